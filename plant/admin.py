from django.contrib import admin

from meter.forms import MeterForm
from meter.models import Meter
from plant.models import Plant


class MeterInline(admin.StackedInline[Meter, Plant]):
    model = Meter
    form = MeterForm
    can_delete = False
    extra = 1
    max_num = 1


@admin.register(Plant)
class PlantAdmin(admin.ModelAdmin[Plant]):
    list_display = ["name", "installation_position", "time_zone", "is_active", "commissioned_at"]
    inlines = [MeterInline]
