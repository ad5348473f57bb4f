from django.urls import path

from plant.api import views

urlpatterns = [
    path("health", views.HealthView.as_view(), name="api-health"),
    path("plants/", views.PlantListView.as_view(), name="api-plants"),
    path("plants/<int:plant_id>/state", views.PlantStateView.as_view(), name="api-plant-state"),
    path("plants/<int:plant_id>/history", views.PlantHistoryView.as_view(), name="api-plant-history"),
    path("plants/<int:plant_id>/energy", views.PlantEnergyView.as_view(), name="api-plant-energy"),
]
