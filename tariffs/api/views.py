"""Costs and tariff settings over the JSON API (TAR-1, TAR-2)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.limits import PRICE_FILE
from access.parsers import JSONParser
from tariffs import pricing, services
from tariffs.api.renderers import CostsCsvRenderer
from tariffs.api.serializers import (
    ContractSerializer,
    CostQuerySerializer,
    PriceSourceSerializer,
    TariffVersionSerializer,
)
from tariffs.models import DynamicPrice, PriceSource, TariffVersion
from tariffs.price_files import PriceFileError, parse_csv, parse_json
from tariffs.views import live_totals


def _plant(plant_id: int) -> Any:
    return get_object_or_404(services.plant_model(), pk=plant_id)


def _direction(direction: str) -> str:
    if direction not in pricing.DIRECTIONS:
        raise serializers.ValidationError({"direction": [f"must be one of {', '.join(pricing.DIRECTIONS)}"]})
    return direction


class CostsView(APIView):
    """Energy and cost of a period in bars (hour: 5 min, day: hours, week/month: days, year: months); ``?format=csv``."""

    change_area = "tariffs"  # portal.roles.TARIFFS: operators edit tariffs (ACC-4)

    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, CostsCsvRenderer]

    @extend_schema(parameters=[CostQuerySerializer], responses={200: dict, 400: dict})
    def get(self, request: Request, plant_id: int) -> Response:
        plant = _plant(plant_id)
        query = CostQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        tz = services.zone(plant)
        now_local = timezone.now().astimezone(tz)
        day: dt.date = params.get("date") or now_local.date()
        hour = params.get("hour")
        if params["period"] == "hour":
            if hour is None:
                midnight = pricing.local_midnight(day, tz)
                hour = int((timezone.now() - midnight) / pricing.HOUR) if day == now_local.date() else 0
            if hour >= pricing.hours_in_day(day, tz):
                raise serializers.ValidationError({"hour": [f"{day} has {pricing.hours_in_day(day, tz)} hours"]})
        report = services.cost_report(
            plant,
            period=params["period"],
            day=day,
            direction=params["direction"],
            hour_index=hour or 0,
            live=live_totals(plant),
        )
        return Response(report)


class ContractView(APIView):
    """Currency and device time zone of a plant's tariffs."""

    change_area = "tariffs"  # portal.roles.TARIFFS: operators edit tariffs (ACC-4)

    @extend_schema(responses=ContractSerializer)
    def get(self, request: Request, plant_id: int) -> Response:
        plant = _plant(plant_id)
        return Response({"currency": services.contract(plant).currency, "time_zone": plant.time_zone})

    @extend_schema(request=ContractSerializer, responses={200: ContractSerializer, 400: dict})
    def put(self, request: Request, plant_id: int) -> Response:
        plant = _plant(plant_id)
        if not isinstance(request.data, dict):
            # [], null or "x": the fields below would be merged into it (issue 14 part 3).
            raise serializers.ValidationError(
                {"non_field_errors": ["Expected a JSON object with currency and/or time_zone."]}
            )
        current = {"currency": services.contract(plant).currency, "time_zone": plant.time_zone}
        serializer = ContractSerializer(data={**current, **request.data})
        serializer.is_valid(raise_exception=True)
        services.save_contract(plant, **serializer.validated_data)
        return Response(serializer.validated_data)


class TariffView(APIView):
    """A tariff's versions, oldest first, and the one in force; POST adds a version."""

    change_area = "tariffs"  # portal.roles.TARIFFS: operators edit tariffs (ACC-4)

    @extend_schema(responses={200: dict})
    def get(self, request: Request, plant_id: int, direction: str) -> Response:
        plant = _plant(plant_id)
        versions = TariffVersion.objects.filter(plant=plant, direction=_direction(direction)).order_by("valid_from")
        current = services.version_in_force(plant, direction)
        return Response(
            {
                "direction": direction,
                "in_force": current.pk if current else None,
                "versions": TariffVersionSerializer(versions, many=True).data,
            }
        )

    @extend_schema(request=TariffVersionSerializer, responses={201: TariffVersionSerializer, 400: dict})
    def post(self, request: Request, plant_id: int, direction: str) -> Response:
        plant = _plant(plant_id)
        serializer = TariffVersionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        version = services.save_version(
            plant,
            _direction(direction),
            valid_from=data["valid_from"],
            basic_charge=data.get("basic_charge", 0),
            names=[p["name"] for p in data["prices"]],
            prices=[p["price"] for p in data["prices"]],
            grid=data["grid"],
        )
        return Response(TariffVersionSerializer(version).data, status=status.HTTP_201_CREATED)


class DynamicPricesView(APIView):
    """Dynamic prices of a tariff from ``from`` to ``to`` (ISO 8601; default: yesterday to two days ahead);
    POST imports a CSV file (multipart field ``file``) or JSON ``{"prices": [...]}``: all or nothing."""

    change_area = "tariffs"  # portal.roles.TARIFFS: operators edit tariffs (ACC-4)

    parser_classes = [JSONParser, MultiPartParser, FormParser]
    body_limit = PRICE_FILE

    @extend_schema(responses={200: dict})
    def get(self, request: Request, plant_id: int, direction: str) -> Response:
        plant = _plant(plant_id)
        now = timezone.now()
        field = serializers.DateTimeField()
        try:
            start = field.to_internal_value(
                request.query_params.get("from") or (now - dt.timedelta(days=1)).isoformat()
            )
            end = field.to_internal_value(request.query_params.get("to") or (now + dt.timedelta(days=2)).isoformat())
        except serializers.ValidationError as error:
            raise serializers.ValidationError({"from": error.detail}) from None
        rows = DynamicPrice.objects.filter(plant=plant, direction=_direction(direction), start__lt=end, end__gt=start)
        return Response(
            {
                "direction": direction,
                "prices": [
                    {"start": s.isoformat(), "end": e.isoformat(), "price": str(p), "source": src}
                    for s, e, p, src in rows.order_by("start").values_list("start", "end", "price", "source")
                ],
            }
        )

    @extend_schema(request=dict, responses={201: dict, 400: dict})
    def post(self, request: Request, plant_id: int, direction: str) -> Response:
        plant = _plant(plant_id)
        upload = request.FILES.get("file")
        try:
            points = parse_csv(upload.file) if upload is not None else parse_json(request.data)
        except UnicodeDecodeError:
            raise serializers.ValidationError({"file": ["the file is not UTF-8 text"]}) from None
        except PriceFileError as error:
            detail: dict[str, Any] = {"file" if upload is not None else "prices": [str(error)]}
            if error.line:
                detail["line"] = error.line
            return Response(detail, status=status.HTTP_400_BAD_REQUEST)
        count = services.store_prices(plant, _direction(direction), points)
        return Response(
            {"stored": count, "start": points[0].start.isoformat(), "end": points[-1].end.isoformat()},
            status=status.HTTP_201_CREATED,
        )


class PriceSourceView(APIView):
    """The HTTP endpoint a tariff's dynamic prices are fetched from; POST fetches now."""

    change_area = "tariffs"  # portal.roles.TARIFFS: operators edit tariffs (ACC-4)

    @extend_schema(responses=PriceSourceSerializer)
    def get(self, request: Request, plant_id: int, direction: str) -> Response:
        source = get_object_or_404(PriceSource, plant_id=_plant(plant_id).pk, direction=_direction(direction))
        return Response(PriceSourceSerializer(source).data)

    @extend_schema(request=PriceSourceSerializer, responses={200: PriceSourceSerializer, 400: dict})
    def put(self, request: Request, plant_id: int, direction: str) -> Response:
        plant = _plant(plant_id)
        source = PriceSource.objects.filter(plant=plant, direction=_direction(direction)).first()
        serializer = PriceSourceSerializer(source, data=request.data, partial=source is not None)
        serializer.is_valid(raise_exception=True)
        serializer.save(plant=plant, direction=direction)
        return Response(serializer.data)

    @extend_schema(request=None, responses={200: PriceSourceSerializer})
    def post(self, request: Request, plant_id: int, direction: str) -> Response:
        source = get_object_or_404(PriceSource, plant_id=_plant(plant_id).pk, direction=_direction(direction))
        stored = services.fetch_prices(source)
        return Response({"stored": stored, **PriceSourceSerializer(source).data})
