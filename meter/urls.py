from django.urls import path

from meter.views import smartmeter

app_name = "meter"

urlpatterns = [
    path("", smartmeter, name="smartmeter"),
]
