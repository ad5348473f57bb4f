from django.urls import path

from meter.views import save_ct, smartmeter

app_name = "meter"

urlpatterns = [
    path("", smartmeter, name="smartmeter"),
    path("ct/", save_ct, name="ct"),
]
