from django.contrib import admin

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
    """Options such as the wallbox functions (WB-1), switched on here until activation codes exist."""

    model = PlantOption
    extra = 0
    readonly_fields = ["activated_at"]


@admin.register(Plant)
class PlantAdmin(admin.ModelAdmin[Plant]):
    list_display = ["name", "installation_position", "time_zone", "is_active", "commissioned_at"]
    inlines = [MeterInline, PlantOptionInline]
