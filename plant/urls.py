from django.urls import path

from plant.views import dashboard, overview

app_name = "plant"

urlpatterns = [
    path("", dashboard, name="dashboard"),
    path("plant/overview/", overview, name="overview"),
]
