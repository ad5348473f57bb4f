from django.urls import path

from plant.views import dashboard

app_name = "plant"

urlpatterns = [
    path("", dashboard, name="dashboard"),
]
