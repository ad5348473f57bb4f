from django.contrib import admin

from meter.forms import MeterForm
from meter.models import Meter


@admin.register(Meter)
class MeterAdmin(admin.ModelAdmin[Meter]):
    form = MeterForm
    list_display = ["plant", "driver", "host", "port", "unit_id", "timeout_s"]
