from django.contrib import admin

from meter.models import Meter


@admin.register(Meter)
class MeterAdmin(admin.ModelAdmin[Meter]):
    list_display = ["plant", "driver", "host", "port", "unit_id", "timeout_s"]
