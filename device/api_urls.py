from django.urls import path

from device import api

urlpatterns = [
    path("device/system", api.SystemView.as_view(), name="api-device-system"),
    path("device/network", api.NetworkView.as_view(), name="api-device-network"),
    path("device/time", api.TimeView.as_view(), name="api-device-time"),
    path("device/time/set", api.SetTimeView.as_view(), name="api-device-time-set"),
    path("device/rs485", api.Rs485View.as_view(), name="api-device-rs485"),
    path("device/restart", api.RestartView.as_view(), name="api-device-restart"),
    path("device/factory-reset", api.ResetView.as_view(), name="api-device-factory-reset"),
    path("device/factory-reset/jobs/<str:job_id>", api.ResetJobView.as_view(), name="api-device-factory-reset-job"),
    path("device/logs", api.LogsView.as_view(), name="api-device-logs"),
]
