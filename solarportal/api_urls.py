from django.urls import path

import access.rest  # noqa: F401  (registers the <id:…> path converter)
from solarportal import api

urlpatterns = [
    path("plants/<id:plant_id>/solarportal", api.UplinkView.as_view(), name="api-plant-solarportal"),
]
