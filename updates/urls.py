from django.urls import path

from updates import views

app_name = "updates"

urlpatterns = [
    path("", views.update_page, name="update"),
    path("mode/", views.save_mode, name="mode"),
    path("check/", views.check_now, name="check"),
    path("upload/", views.upload, name="upload"),
    path("jobs/<str:job_id>/", views.job, name="job"),
]
