"""``GET /api/v1/device/licences``: the licences page's list (DEV-9), for anyone logged in."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ksem_site.licences import components


class LicencesView(APIView):
    """Every open-source component: ``name``, ``version``, ``licence``, ``homepage``, ``kind`` (python or browser)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=dict)
    def get(self, request: Request) -> Response:
        return Response(
            {
                "components": [
                    {"name": c.name, "version": c.version, "licence": c.licence, "homepage": c.homepage, "kind": c.kind}
                    for c in components()
                ]
            }
        )
