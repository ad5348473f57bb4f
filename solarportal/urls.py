from django.urls import path

from solarportal import receiver, views

app_name = "solarportal"

urlpatterns = [
    path("", views.uplink, name="uplink"),
    path("portal/", views.portal, name="portal"),
    path("portal/register/", views.register, name="register"),
    path("receive/", receiver.ReceiveView.as_view(), name="receive"),
]
