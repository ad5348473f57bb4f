"""A plant's inverters and power settings over the JSON API (INV-1..4, PL-2).

Creating an inverter, or changing its type or address, runs detection: a device that does not
answer is refused with 400 and nothing is saved (INV-2).
"""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from inverters import detection, services
from inverters.api.serializers import InverterSerializer, PowerSettingsSerializer
from inverters.models import Inverter
from inverters.views import latest_state


def _plant(plant_id: int) -> Any:
    return get_object_or_404(services.plant_model(), pk=plant_id)


class InverterListView(generics.ListAPIView[Inverter]):
    """The plant's inverters in their order, with live status (paged); POST adds one after it answered."""

    serializer_class = InverterSerializer

    def get_queryset(self) -> Any:
        self.plant = _plant(self.kwargs["plant_id"])
        return Inverter.objects.filter(plant=self.plant).select_related("battery").order_by("position", "pk")

    def get_serializer_context(self) -> dict[str, Any]:
        plant = getattr(self, "plant", None)
        return {**super().get_serializer_context(), "plant": plant, "state": latest_state(plant) if plant else None}

    @extend_schema(request=InverterSerializer, responses={201: InverterSerializer, 400: dict})
    def post(self, request: Request, plant_id: int) -> Response:
        plant = _plant(plant_id)
        serializer = InverterSerializer(data=request.data, context={"plant": plant, "state": latest_state(plant)})
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(serializer.data, status=status.HTTP_201_CREATED)


class InverterDetailView(APIView):
    def _inverter(self, plant_id: int, inverter_id: int) -> Inverter:
        return get_object_or_404(Inverter.objects.select_related("plant"), pk=inverter_id, plant_id=plant_id)

    @extend_schema(responses=InverterSerializer)
    def get(self, request: Request, plant_id: int, inverter_id: int) -> Response:
        inverter = self._inverter(plant_id, inverter_id)
        context = {"plant": inverter.plant, "state": latest_state(inverter.plant)}
        return Response(InverterSerializer(inverter, context=context).data)

    def _update(self, request: Request, plant_id: int, inverter_id: int, partial: bool) -> Response:
        inverter = self._inverter(plant_id, inverter_id)
        context = {"plant": inverter.plant, "state": latest_state(inverter.plant)}
        serializer = InverterSerializer(inverter, data=request.data, partial=partial, context=context)
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(serializer.data)

    @extend_schema(request=InverterSerializer, responses={200: InverterSerializer, 400: dict})
    def put(self, request: Request, plant_id: int, inverter_id: int) -> Response:
        return self._update(request, plant_id, inverter_id, partial=False)

    @extend_schema(request=InverterSerializer, responses={200: InverterSerializer, 400: dict})
    def patch(self, request: Request, plant_id: int, inverter_id: int) -> Response:
        return self._update(request, plant_id, inverter_id, partial=True)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, plant_id: int, inverter_id: int) -> Response:
        self._inverter(plant_id, inverter_id).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class InverterInfoView(APIView):
    """The inverter's device info (INV-2) and its latest info job. ``POST`` reads it again: a job in
    the worker, answered 202 at once; poll ``GET`` until ``job.state`` is ``done`` or ``failed``."""

    def _answer(self, inverter: Inverter) -> dict[str, Any]:
        return {"info": detection.info_of(inverter), "job": detection.info_job(inverter)}

    @extend_schema(responses={200: dict})
    def get(self, request: Request, plant_id: int, inverter_id: int) -> Response:
        inverter = get_object_or_404(Inverter, pk=inverter_id, plant_id=plant_id)
        return Response(self._answer(inverter))

    @extend_schema(request=None, responses={202: dict, 503: dict})
    def post(self, request: Request, plant_id: int, inverter_id: int) -> Response:
        inverter = get_object_or_404(Inverter, pk=inverter_id, plant_id=plant_id)
        try:
            detection.request_info(inverter)
        except detection.SEND_ERRORS as error:  # Redis or the broker down: say so, never a server error
            return Response(
                {"detail": f"The info read could not be handed to the worker ({error})."},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        return Response(self._answer(inverter), status=status.HTTP_202_ACCEPTED)


class PowerSettingsView(APIView):
    """Feed-in limitation and battery management of a plant; PUT changes the fields it names."""

    @extend_schema(responses=PowerSettingsSerializer)
    def get(self, request: Request, plant_id: int) -> Response:
        plant = _plant(plant_id)
        return Response(PowerSettingsSerializer(services.power_settings_of(plant), context={"plant": plant}).data)

    @extend_schema(request=PowerSettingsSerializer, responses={200: PowerSettingsSerializer, 400: dict})
    def put(self, request: Request, plant_id: int) -> Response:
        plant = _plant(plant_id)
        serializer = PowerSettingsSerializer(
            services.power_settings_of(plant), data=request.data, partial=True, context={"plant": plant}
        )
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(serializer.data)
