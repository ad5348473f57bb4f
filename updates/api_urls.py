from django.urls import path

from updates import api

urlpatterns = [
    path("device/update", api.UpdateView.as_view(), name="api-device-update"),
    path("device/update/check", api.CheckView.as_view(), name="api-device-update-check"),
    path("device/update/package", api.PackageView.as_view(), name="api-device-update-package"),
    path("device/update/jobs/<str:job_id>", api.JobView.as_view(), name="api-device-update-job"),
]
