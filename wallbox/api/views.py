"""A plant's wallboxes over the JSON API (WB-2..WB-13); 404 while the wallbox option is off (WB-1).

Device settings, mains and setup are the installer's (area settings); mode, pause and Time Mode
are the charging area, which operators may change (``access.permissions.ApiAccess`` reads
``change_area``).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.roles import CHARGING, SETTINGS
from wallbox import configs, firmware, rules, setup
from wallbox.api.serializers import (
    ChargingPlanSerializer,
    ChargingSerializer,
    MainsSerializer,
    PhaseSwitchSerializer,
    SessionSerializer,
    TimeModeSerializer,
    WallboxSerializer,
    api_error,
)
from wallbox.models import ChargingPlan, ChargingSession, PhaseSwitchEvent, Wallbox
from wallbox.views import latest_state


def _plant(plant_id: int) -> Any:
    plant = get_object_or_404(configs.plant_model(), pk=plant_id)
    if not configs.option_active(plant):
        raise Http404("The wallbox functions are not activated for this plant.")
    return plant


def _box(plant_id: int, wallbox_id: int) -> Wallbox:
    plant = _plant(plant_id)
    return get_object_or_404(Wallbox.objects.select_related("plant"), pk=wallbox_id, plant=plant)


class WallboxListView(generics.ListAPIView[Wallbox]):
    """The plant's boxes with live status (paged); POST adds one and runs its setup."""

    serializer_class = WallboxSerializer
    change_area = SETTINGS

    def get_queryset(self) -> Any:
        self.plant = _plant(self.kwargs["plant_id"])
        return Wallbox.objects.filter(plant=self.plant).order_by("position", "pk")

    def get_serializer_context(self) -> dict[str, Any]:
        plant = getattr(self, "plant", None)
        return {**super().get_serializer_context(), "plant": plant, "state": latest_state(plant) if plant else None}

    @extend_schema(request=WallboxSerializer, responses={201: WallboxSerializer, 400: dict})
    def post(self, request: Request, plant_id: int) -> Response:
        plant = _plant(plant_id)
        serializer = WallboxSerializer(data=request.data, context={"plant": plant, "state": latest_state(plant)})
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(serializer.data, status=status.HTTP_201_CREATED)


class WallboxDetailView(APIView):
    """One box; PATCH/PUT change name, interface, rotation, phases used, minimum current;
    DELETE writes address 50 back (deleted even if the box does not answer: ``message`` says so)."""

    change_area = SETTINGS

    def _context(self, box: Wallbox) -> dict[str, Any]:
        return {"plant": box.plant, "state": latest_state(box.plant)}

    @extend_schema(responses=WallboxSerializer)
    def get(self, request: Request, plant_id: int, wallbox_id: int) -> Response:
        box = _box(plant_id, wallbox_id)
        return Response(WallboxSerializer(box, context=self._context(box)).data)

    def _update(self, request: Request, plant_id: int, wallbox_id: int, partial: bool) -> Response:
        box = _box(plant_id, wallbox_id)
        serializer = WallboxSerializer(box, data=request.data, partial=partial, context=self._context(box))
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(serializer.data)

    @extend_schema(request=WallboxSerializer, responses={200: WallboxSerializer, 400: dict})
    def patch(self, request: Request, plant_id: int, wallbox_id: int) -> Response:
        return self._update(request, plant_id, wallbox_id, partial=True)

    @extend_schema(request=WallboxSerializer, responses={200: WallboxSerializer, 400: dict})
    def put(self, request: Request, plant_id: int, wallbox_id: int) -> Response:
        return self._update(request, plant_id, wallbox_id, partial=False)

    @extend_schema(responses={200: dict})
    def delete(self, request: Request, plant_id: int, wallbox_id: int) -> Response:
        return Response({"message": setup.remove(_box(plant_id, wallbox_id))})


class WallboxSetupView(APIView):
    """Retry the deferred address move of a pending box."""

    change_area = SETTINGS

    @extend_schema(request=None, responses={200: WallboxSerializer})
    def post(self, request: Request, plant_id: int, wallbox_id: int) -> Response:
        box = _box(plant_id, wallbox_id)
        message = setup.retry_setup(box)
        data = WallboxSerializer(box, context={"plant": box.plant, "state": latest_state(box.plant)}).data
        return Response({**data, "message": message})


class FirmwareView(APIView):
    """Firmware upload (WB-13) with the page's roles (the installer's): ``GET`` the progress,
    ``POST`` a file (multipart, field ``firmware``, at most 8 MB). The transfer runs as a job in the
    worker; poll ``GET`` for ``state`` (idle, queued, running, done, failed), ``progress_pct`` and
    ``message``. ``note`` says plainly that this works with the simulated box only (issue 13.8)."""

    change_area = SETTINGS
    parser_classes = [MultiPartParser, FormParser]

    def _body(self, box: Wallbox) -> dict[str, Any]:
        return {
            **firmware.firmware_progress(box.pk),
            "firmware_version": box.firmware_version,
            "supported": firmware.firmware_supported(box),
            "note": str(firmware.SIMULATED_ONLY_NOTE),
        }

    @extend_schema(responses={200: dict})
    def get(self, request: Request, plant_id: int, wallbox_id: int) -> Response:
        return Response(self._body(_box(plant_id, wallbox_id)))

    @extend_schema(
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {"firmware": {"type": "string", "format": "binary"}},
            }
        },
        responses={202: dict, 400: dict},
    )
    def post(self, request: Request, plant_id: int, wallbox_id: int) -> Response:
        box = _box(plant_id, wallbox_id)
        upload = request.FILES.get("firmware")
        if upload is None:
            return Response({"firmware": ["Send the firmware file as multipart field 'firmware'."]}, status=400)
        if upload.size is not None and upload.size > firmware.FIRMWARE_MAX_BYTES:
            return Response({"firmware": ["The file is larger than 8 MB; that is no ENECTOR firmware."]}, status=400)
        try:
            firmware.start_firmware_update(box, upload.read())
        except DjangoValidationError as error:
            raise api_error(error) from error
        return Response(self._body(box), status=status.HTTP_202_ACCEPTED)


class ChargingView(APIView):
    """Mode, house battery use and Solar Plus settings of one box (operators may change them)."""

    change_area = CHARGING

    @extend_schema(responses=ChargingSerializer)
    def get(self, request: Request, plant_id: int, wallbox_id: int) -> Response:
        return Response(ChargingSerializer(_box(plant_id, wallbox_id)).data)

    @extend_schema(request=ChargingSerializer, responses={200: ChargingSerializer, 400: dict})
    def patch(self, request: Request, plant_id: int, wallbox_id: int) -> Response:
        serializer = ChargingSerializer(_box(plant_id, wallbox_id), data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(serializer.data)

    put = patch


class PauseView(APIView):
    """``POST …/pause`` pauses charging by hand (WB-3), ``POST …/resume`` restarts it."""

    change_area = CHARGING
    paused = True

    @extend_schema(request=None, responses={200: ChargingSerializer})
    def post(self, request: Request, plant_id: int, wallbox_id: int) -> Response:
        box = _box(plant_id, wallbox_id)
        rules.set_manual_pause(box, self.paused)
        return Response(ChargingSerializer(box).data)


class TimeModeView(APIView):
    """The Time Mode week of one box: 7 weekdays (Monday first), 24 hourly modes each."""

    change_area = CHARGING

    @extend_schema(responses=TimeModeSerializer)
    def get(self, request: Request, plant_id: int, wallbox_id: int) -> Response:
        return Response({"days": configs.time_mode_of(_box(plant_id, wallbox_id))})

    @extend_schema(request=TimeModeSerializer, responses={200: TimeModeSerializer, 400: dict})
    def put(self, request: Request, plant_id: int, wallbox_id: int) -> Response:
        box = _box(plant_id, wallbox_id)
        serializer = TimeModeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            rules.save_time_mode(box, serializer.validated_data["days"])
        except DjangoValidationError as error:
            raise api_error(error) from error
        return Response({"days": configs.time_mode_of(box)})


class ChargingPlanView(APIView):
    """A box's charging plan (issue 19.3): GET the plan with its timeline (planned power per
    15-minute slot, expected cost and solar share); PUT sets it (creates or replaces), PATCH
    changes fields, DELETE removes it. The charging area: operators may change it."""

    change_area = CHARGING

    def _body(self, box: Wallbox, plan: ChargingPlan | None) -> dict[str, Any]:
        if plan is None:
            return {"plan": None, "timeline": None}
        return {
            "plan": ChargingPlanSerializer(plan).data,
            "timeline": configs.plan_timeline(box, latest_state(box.plant)),
        }

    @extend_schema(responses=dict)
    def get(self, request: Request, plant_id: int, wallbox_id: int) -> Response:
        box = _box(plant_id, wallbox_id)
        plan = ChargingPlan.objects.filter(wallbox=box).first()
        if plan is None:
            return Response({"detail": "This wallbox has no charging plan."}, status=status.HTTP_404_NOT_FOUND)
        return Response(self._body(box, plan))

    @extend_schema(request=ChargingPlanSerializer, responses={200: dict, 201: dict, 400: dict})
    def put(self, request: Request, plant_id: int, wallbox_id: int) -> Response:
        box = _box(plant_id, wallbox_id)
        existing = ChargingPlan.objects.filter(wallbox=box).first()
        partial = request.method == "PATCH"
        if partial and existing is None:
            return Response({"detail": "This wallbox has no charging plan."}, status=status.HTTP_404_NOT_FOUND)
        serializer = ChargingPlanSerializer(
            existing if partial else None, data=request.data, partial=partial, context={"wallbox": box}
        )
        serializer.is_valid(raise_exception=True)
        if partial:
            plan = serializer.save()
        else:
            plan, _ = ChargingPlan.objects.update_or_create(wallbox=box, defaults=dict(serializer.validated_data))
        code = status.HTTP_201_CREATED if existing is None else status.HTTP_200_OK
        return Response(self._body(box, plan), status=code)

    patch = put

    @extend_schema(responses={204: None, 404: dict})
    def delete(self, request: Request, plant_id: int, wallbox_id: int) -> Response:
        box = _box(plant_id, wallbox_id)
        deleted, _ = ChargingPlan.objects.filter(wallbox=box).delete()
        if not deleted:
            return Response({"detail": "This wallbox has no charging plan."}, status=status.HTTP_404_NOT_FOUND)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MainsView(APIView):
    """The plant's mains connection: phases, fuse per phase, unbalanced-load limit (WB-8, WB-9)."""

    change_area = SETTINGS

    @extend_schema(responses=MainsSerializer)
    def get(self, request: Request, plant_id: int) -> Response:
        return Response(MainsSerializer(configs.mains_settings_of(_plant(plant_id))).data)

    @extend_schema(request=MainsSerializer, responses={200: MainsSerializer, 400: dict})
    def put(self, request: Request, plant_id: int) -> Response:
        serializer = MainsSerializer(configs.mains_settings_of(_plant(plant_id)), data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        mains = serializer.save()
        return Response(MainsSerializer(mains).data)

    patch = put


class SessionListView(generics.ListAPIView[ChargingSession]):
    """Charging sessions, newest first (paged): energy, duration, solar share."""

    serializer_class = SessionSerializer

    def get_queryset(self) -> Any:
        return ChargingSession.objects.filter(plant=_plant(self.kwargs["plant_id"])).order_by("-started", "-pk")


class PhaseSwitchListView(generics.ListAPIView[PhaseSwitchEvent]):
    """The phase-switching log (WB-12), oldest first (paged)."""

    serializer_class = PhaseSwitchSerializer

    def get_queryset(self) -> Any:
        return PhaseSwitchEvent.objects.filter(plant=_plant(self.kwargs["plant_id"])).order_by("time", "pk")
