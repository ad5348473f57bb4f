from django.urls import path

import access.rest  # noqa: F401  (registers the <id:…> path converter)
from meter.api import views

urlpatterns = [
    path("plants/<id:plant_id>/meter/ct", views.CurrentTransformerView.as_view(), name="api-meter-ct"),
]
