from django.urls import path

from wallbox import views

app_name = "wallbox"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("add/", views.add, name="add"),
    path("settings/", views.mains, name="mains"),
    path("sessions/", views.sessions, name="sessions"),
    path("phase_switching_log.txt", views.phase_log, name="phase-log"),
    path("<int:pk>/", views.charging, name="charging"),
    path("<int:pk>/pause/", views.pause, name="pause"),
    path("<int:pk>/time-mode/", views.time_mode, name="time-mode"),
    path("<int:pk>/plan/", views.plan, name="plan"),
    path("<int:pk>/edit/", views.edit, name="edit"),
    path("<int:pk>/delete/", views.delete, name="delete"),
    path("<int:pk>/setup/", views.retry_setup, name="setup"),
    path("<int:pk>/info/", views.refresh_info, name="info"),
    path("<int:pk>/firmware/", views.firmware, name="firmware"),
    path("<int:pk>/firmware/progress/", views.firmware_progress, name="firmware-progress"),
]
