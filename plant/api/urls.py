from django.urls import path

import access.rest  # noqa: F401  (registers the <id:…> path converter)
from plant.api import views

urlpatterns = [
    path("health", views.HealthView.as_view(), name="api-health"),
    path("plants/", views.PlantListView.as_view(), name="api-plants"),
    path("plants/<id:plant_id>/state", views.PlantStateView.as_view(), name="api-plant-state"),
    path("plants/<id:plant_id>/history", views.PlantHistoryView.as_view(), name="api-plant-history"),
    path("plants/<id:plant_id>/energy", views.PlantEnergyView.as_view(), name="api-plant-energy"),
    path(
        "plants/<id:plant_id>/activation-codes", views.ActivationCodesView.as_view(), name="api-plant-activation-codes"
    ),
    path(
        "plants/<id:plant_id>/installation-position",
        views.InstallationPositionView.as_view(),
        name="api-plant-installation-position",
    ),
]
