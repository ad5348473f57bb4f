from django.urls import path

import access.rest  # noqa: F401  (registers the <id:…> path converter)
from forecast.api import views

urlpatterns = [
    path("plants/<id:plant_id>/forecast", views.ForecastView.as_view(), name="api-plant-forecast"),
    path("plants/<id:plant_id>/forecast/location", views.LocationView.as_view(), name="api-plant-forecast-location"),
]
