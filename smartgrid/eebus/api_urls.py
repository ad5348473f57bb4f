from django.urls import path

import access.rest  # noqa: F401  (registers the <id:…> path converter)
from smartgrid.eebus import api

urlpatterns = [
    path("plants/<id:plant_id>/eebus", api.ConnectionsView.as_view(), name="api-plant-eebus"),
    path("plants/<id:plant_id>/eebus/connections", api.NewConnectionView.as_view(), name="api-plant-eebus-connect"),
    path(
        "plants/<id:plant_id>/eebus/peers/<str:ski>/<str:action>",
        api.PeerActionView.as_view(),
        name="api-plant-eebus-peer",
    ),
]
