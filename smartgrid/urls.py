from django.urls import path

from smartgrid import views

app_name = "smartgrid"

urlpatterns = [
    path("", views.smartgrid, name="state"),
]
