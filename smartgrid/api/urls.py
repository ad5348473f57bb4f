from django.urls import path

import access.rest  # noqa: F401  (registers the <id:…> path converter)
from smartgrid.api import views

urlpatterns = [
    path("plants/<id:plant_id>/smartgrid", views.SmartGridView.as_view(), name="api-plant-smartgrid"),
    path("plants/<id:plant_id>/smartgrid/history", views.HistoryView.as_view(), name="api-plant-smartgrid-history"),
]
