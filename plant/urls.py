from django.urls import path

from plant.activation_views import activation_codes
from plant.views import dashboard, overview

app_name = "plant"

urlpatterns = [
    path("", dashboard, name="dashboard"),
    path("plant/overview/", overview, name="overview"),
    path("activation/", activation_codes, name="activation-codes"),
]
