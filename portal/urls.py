from django.contrib.auth.views import LogoutView
from django.urls import path

from portal.views import DeviceLoginView

app_name = "portal"

urlpatterns = [
    path("login/", DeviceLoginView.as_view(), name="login"),
    # Django's LogoutView accepts POST only, so a link or a prefetch cannot log anybody out.
    path("logout/", LogoutView.as_view(), name="logout"),
]
