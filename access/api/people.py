"""People and their per-plant roles over the API (ACC-3, ACC-4): the people page's rules, thin.

Validation is the page's own forms (``portal.forms``): the same user-name, password and role
rules, the same messages. Installers only (sessions or admin tokens), like access tokens.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.permissions import InstallerOnly
from portal import two_factor
from portal.forms import PersonAddForm, PersonEditForm
from portal.models import Membership
from portal.services import DEVICE_USERNAME

ROLE_CHOICES = ("installer", "operator", "")


class PersonSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    username = serializers.CharField()
    roles = serializers.DictField(child=serializers.ChoiceField(choices=["installer", "operator"]))
    two_factor = serializers.BooleanField()
    last_login = serializers.DateTimeField(allow_null=True)


PERSON = PersonSerializer
NEW_PERSON = inline_serializer(
    "NewPerson",
    {
        "username": serializers.CharField(),
        "password": serializers.CharField(),
        "roles": serializers.DictField(child=serializers.ChoiceField(choices=ROLE_CHOICES)),
    },
)
PERSON_CHANGE = inline_serializer(
    "PersonChange",
    {
        "roles": serializers.DictField(child=serializers.ChoiceField(choices=ROLE_CHOICES), required=False),
        "new_password": serializers.CharField(required=False),
        "turn_off_two_factor": serializers.BooleanField(required=False),
    },
)


def _plants() -> list[Any]:
    return list(Membership._meta.get_field("plant").related_model.objects.order_by("name"))  # type: ignore[union-attr]


def _people() -> Any:
    return get_user_model().objects.filter(is_superuser=False).exclude(username=DEVICE_USERNAME)


def person_data(person: Any) -> dict[str, Any]:
    return {
        "id": person.pk,
        "username": person.get_username(),
        "roles": {str(m.plant_id): m.role for m in Membership.objects.filter(user=person).order_by("plant_id")},
        "two_factor": two_factor.confirmed_totp(person) is not None,
        "last_login": serializers.DateTimeField().to_representation(person.last_login) if person.last_login else None,
    }


def _role_fields(raw: Any, plants: list[Any], current: dict[int, str]) -> dict[str, str]:
    """``{"<plant id>": "installer" | "operator" | ""}`` as the form's ``role_<id>`` fields."""
    if not isinstance(raw, dict):
        raise serializers.ValidationError({"roles": ['An object {"<plant id>": "installer" | "operator" | ""}.']})
    known = {str(p.pk) for p in plants}
    unknown = sorted(set(map(str, raw)) - known)
    if unknown:
        raise serializers.ValidationError({"roles": [f"No plant with id {', '.join(unknown)}."]})
    fields = {f"role_{plant_id}": role for plant_id, role in current.items()}
    for plant_id, role in raw.items():
        if role not in ROLE_CHOICES:
            raise serializers.ValidationError(
                {"roles": [f'Plant {plant_id}: "{role}" is no role (installer, operator or "").']}
            )
        fields[f"role_{plant_id}"] = role
    return {k: v for k, v in fields.items() if v}


def _errors(form: Any) -> dict[str, list[str]]:
    """The form's errors by API field: the per-plant role fields answer as ``roles``."""
    result: dict[str, list[str]] = {}
    for field, messages in form.errors.items():
        name = "roles" if field.startswith("role_") or field == "__all__" else field
        result.setdefault(name, []).extend(str(m) for m in messages)
    return result


def _body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise serializers.ValidationError({"detail": "Send a JSON object."})
    return dict(request.data)


class PeopleView(APIView):
    """``GET|POST /api/people/``: everyone who may log in (but the device account), with roles."""

    permission_classes = [InstallerOnly]

    @extend_schema(responses={200: PersonSerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response([person_data(p) for p in _people().order_by("username")])

    @extend_schema(request=NEW_PERSON, responses={201: PERSON, 400: dict})
    def post(self, request: Request) -> Response:
        body = _body(request)
        plants = _plants()
        data = {"username": body.get("username", ""), "password": body.get("password", "")}
        data |= _role_fields(body.get("roles", {}), plants, {})
        form = PersonAddForm(data, plants=plants)
        if not form.is_valid():
            return Response(_errors(form), status=status.HTTP_400_BAD_REQUEST)
        person = form.save()
        return Response(person_data(person), status=status.HTTP_201_CREATED)


class PersonView(APIView):
    """``GET|PATCH|DELETE /api/people/{id}``: roles, a new initial password, two-factor off; remove."""

    permission_classes = [InstallerOnly]

    @extend_schema(responses={200: PERSON})
    def get(self, request: Request, person_id: int) -> Response:
        return Response(person_data(get_object_or_404(_people(), pk=person_id)))

    @extend_schema(request=PERSON_CHANGE, responses={200: PERSON, 400: dict})
    def patch(self, request: Request, person_id: int) -> Response:
        person = get_object_or_404(_people(), pk=person_id)
        body = _body(request)
        plants = _plants()
        current = dict(Membership.objects.filter(user=person).values_list("plant_id", "role"))
        data: dict[str, Any] = _role_fields(body.get("roles", {}), plants, current)
        data["new_password"] = body.get("new_password", "")
        if body.get("turn_off_two_factor"):
            data["turn_off_two_factor"] = "on"
        form = PersonEditForm(data, person=person, plants=plants, initial_roles=current)
        if not form.is_valid():
            return Response(_errors(form), status=status.HTTP_400_BAD_REQUEST)
        form.save()
        return Response(person_data(person))

    @extend_schema(responses={204: None, 400: dict})
    def delete(self, request: Request, person_id: int) -> Response:
        person = get_object_or_404(_people(), pk=person_id)
        if person.pk == request.user.pk:
            return Response({"detail": "You cannot remove yourself."}, status=status.HTTP_400_BAD_REQUEST)
        person.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
