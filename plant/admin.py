from django.contrib import admin

from plant.models import Plant


@admin.register(Plant)
class PlantAdmin(admin.ModelAdmin[Plant]):
    list_display = ["name", "installation_position", "time_zone", "is_active", "commissioned_at"]
