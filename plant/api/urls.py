from django.urls import path

import access.rest  # noqa: F401  (registers the <id:…> path converter)
from plant.api import backup, views

urlpatterns = [
    path("health", views.HealthView.as_view(), name="api-health"),
    path("plants/", views.PlantListView.as_view(), name="api-plants"),
    path("plants/status", views.PlantStatusListView.as_view(), name="api-plants-status"),
    path("device/backup", backup.BackupView.as_view(), name="api-device-backup"),
    path("device/backup/restore", backup.RestoreView.as_view(), name="api-device-backup-restore"),
    path("device/backup/jobs/<str:job_id>", backup.BackupJobView.as_view(), name="api-device-backup-job"),
    path("device/backup/files/<str:name>", backup.BackupFileView.as_view(), name="api-device-backup-file"),
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
