"""Access tokens over the JSON API (ACC-2): installers and admin tokens only."""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access import services
from access.api.serializers import AccessTokenSerializer, CreatedAccessTokenSerializer, NewAccessTokenSerializer
from access.models import AccessToken
from access.permissions import InstallerOnly
from access.rest import errors


class TokenListView(generics.ListAPIView[AccessToken]):
    """Every token (the secrets are never shown again); POST creates one, which works once authorised."""

    permission_classes = [InstallerOnly]
    serializer_class = AccessTokenSerializer

    def get_queryset(self) -> QuerySet[AccessToken]:
        return AccessToken.objects.order_by("name")

    @extend_schema(request=NewAccessTokenSerializer, responses={201: CreatedAccessTokenSerializer, **errors(400)})
    def post(self, request: Request) -> Response:
        given = NewAccessTokenSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            new = services.create_token(user=request.user, **given.validated_data)
        except services.TokenError as error:
            raise serializers.ValidationError({error.field: [error.message]}) from None
        body = {**AccessTokenSerializer(new.token).data, "secret": new.secret}
        return Response(body, status=status.HTTP_201_CREATED)


def _token(token_id: int) -> AccessToken:
    return get_object_or_404(AccessToken, pk=token_id)


class TokenDetailView(APIView):
    permission_classes = [InstallerOnly]

    @extend_schema(responses=AccessTokenSerializer)
    def get(self, request: Request, token_id: int) -> Response:
        return Response(AccessTokenSerializer(_token(token_id)).data)


class TokenAuthoriseView(APIView):
    """Let the token in; a revoked token cannot be authorised again (400)."""

    permission_classes = [InstallerOnly]

    @extend_schema(request=None, responses={200: AccessTokenSerializer, **errors(400)})
    def post(self, request: Request, token_id: int) -> Response:
        try:
            token = services.authorise_token(_token(token_id))
        except services.TokenError as error:
            raise serializers.ValidationError({error.field: [error.message]}) from None
        return Response(AccessTokenSerializer(token).data)


class TokenRevokeView(APIView):
    """Shut the token out; its very next request is refused (401)."""

    permission_classes = [InstallerOnly]

    @extend_schema(request=None, responses=AccessTokenSerializer)
    def post(self, request: Request, token_id: int) -> Response:
        return Response(AccessTokenSerializer(services.revoke_token(_token(token_id))).data)
