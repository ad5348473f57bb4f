from django.urls import path

from device import views

app_name = "device"

urlpatterns = [
    path("", views.system_page, name="system"),
    path("network/", views.save_network, name="network"),
    path("time/", views.save_time, name="time"),
    path("time/browser/", views.set_time, name="set-time"),
    path("restart/", views.restart_now, name="restart"),
    path("restart/status/", views.restart_status, name="restart-status"),
    path("reset/", views.factory_reset, name="reset"),
    path("reset/jobs/<str:job_id>/", views.reset_job, name="reset-job"),
    path("logs/", views.download_logs, name="logs"),
]
