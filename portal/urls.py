from django.contrib.auth.views import LogoutView
from django.urls import path

from portal import views

app_name = "portal"

urlpatterns = [
    path("login/", views.DeviceLoginView.as_view(), name="login"),
    path("login/code/", views.verify, name="verify"),
    # Django's LogoutView accepts POST only, so a link or a prefetch cannot log anybody out.
    path("logout/", LogoutView.as_view(), name="logout"),
    path("profile/", views.profile, name="profile"),
    path("profile/password/", views.password_change, name="password"),
    path("profile/two-factor/", views.two_factor_setup, name="two_factor"),
    path("profile/two-factor/off/", views.two_factor_disable, name="two_factor_off"),
    path("people/", views.people, name="people"),
    path("people/add/", views.person_add, name="person_add"),
    path("people/<int:pk>/", views.person_edit, name="person_edit"),
    path("people/<int:pk>/remove/", views.person_remove, name="person_remove"),
]
