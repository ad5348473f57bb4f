from django.urls import path

from plant import backup_views
from plant.activation_views import activation_codes
from plant.list_views import plant_list
from plant.views import dashboard, overview

app_name = "plant"

urlpatterns = [
    path("", dashboard, name="dashboard"),
    path("plant/overview/", overview, name="overview"),
    path("plants/", plant_list, name="list"),
    path("activation/", activation_codes, name="activation-codes"),
    path("device/backup/", backup_views.backup_page, name="backup"),
    path("device/backup/create/", backup_views.create, name="backup-create"),
    path("device/backup/restore/", backup_views.restore, name="backup-restore"),
    path("device/backup/jobs/<str:job_id>/", backup_views.job, name="backup-job"),
    path("device/backup/files/<str:name>", backup_views.download, name="backup-download"),
]
