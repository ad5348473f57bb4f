from django.urls import path

import access.rest  # noqa: F401  (registers the <id:…> path converter)
from wallbox.api import views

BOX = "plants/<id:plant_id>/wallboxes/<id:wallbox_id>"

urlpatterns = [
    path("plants/<id:plant_id>/wallboxes/", views.WallboxListView.as_view(), name="api-plant-wallboxes"),
    path(BOX, views.WallboxDetailView.as_view(), name="api-plant-wallbox"),
    path(f"{BOX}/setup", views.WallboxSetupView.as_view(), name="api-plant-wallbox-setup"),
    path(f"{BOX}/firmware", views.FirmwareView.as_view(), name="api-plant-wallbox-firmware"),
    path(f"{BOX}/charging", views.ChargingView.as_view(), name="api-plant-wallbox-charging"),
    path(f"{BOX}/pause", views.PauseView.as_view(paused=True), name="api-plant-wallbox-pause"),
    path(f"{BOX}/resume", views.PauseView.as_view(paused=False), name="api-plant-wallbox-resume"),
    path(f"{BOX}/plan", views.ChargingPlanView.as_view(), name="api-plant-wallbox-plan"),
    path(f"{BOX}/time-mode", views.TimeModeView.as_view(), name="api-plant-wallbox-time-mode"),
    path("plants/<id:plant_id>/mains", views.MainsView.as_view(), name="api-plant-mains"),
    path("plants/<id:plant_id>/charging-sessions", views.SessionListView.as_view(), name="api-plant-charging-sessions"),
    path("plants/<id:plant_id>/phase-switches", views.PhaseSwitchListView.as_view(), name="api-plant-phase-switches"),
]
