from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from meter.forms import MeterForm
from meter.models import Meter
from plant.models import Plant, PlantOption


class MeterInline(admin.StackedInline[Meter, Plant]):
    model = Meter
    form = MeterForm
    can_delete = False
    extra = 1
    max_num = 1


class PlantOptionInline(admin.TabularInline[PlantOption, Plant]):
    """Options such as the wallbox functions (WB-1), shown here; only activation codes release them (ACT-1)."""

    model = PlantOption
    extra = 0
    fields = ["option", "active", "source", "code", "activated_at"]
    readonly_fields = ["option", "active", "source", "code", "activated_at"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Plant)
class PlantAdmin(admin.ModelAdmin[Plant]):
    list_display = ["name", "serial_number", "installation_position", "time_zone", "is_active", "commissioned_at"]
    readonly_fields = ["serial_number"]
    inlines = [MeterInline, PlantOptionInline]
