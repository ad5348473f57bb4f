from django.urls import path

import access.rest  # noqa: F401  (registers the <id:…> path converter)
from inverters.api import views

urlpatterns = [
    path("plants/<id:plant_id>/inverters/", views.InverterListView.as_view(), name="api-plant-inverters"),
    path(
        "plants/<id:plant_id>/inverters/<id:inverter_id>",
        views.InverterDetailView.as_view(),
        name="api-plant-inverter",
    ),
    path(
        "plants/<id:plant_id>/inverters/<id:inverter_id>/info",
        views.InverterInfoView.as_view(),
        name="api-plant-inverter-info",
    ),
    path("plants/<id:plant_id>/power-settings", views.PowerSettingsView.as_view(), name="api-plant-power-settings"),
]
