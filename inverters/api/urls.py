from django.urls import path

from inverters.api import views

urlpatterns = [
    path("plants/<int:plant_id>/inverters/", views.InverterListView.as_view(), name="api-plant-inverters"),
    path(
        "plants/<int:plant_id>/inverters/<int:inverter_id>",
        views.InverterDetailView.as_view(),
        name="api-plant-inverter",
    ),
    path("plants/<int:plant_id>/power-settings", views.PowerSettingsView.as_view(), name="api-plant-power-settings"),
]
