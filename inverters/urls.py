from django.urls import path

from inverters import views

app_name = "inverters"

urlpatterns = [
    path("", views.inverter_list, name="list"),
    path("add/", views.inverter_add, name="add"),
    path("<int:pk>/", views.inverter_edit, name="edit"),
    path("<int:pk>/delete/", views.inverter_delete, name="delete"),
    path("<int:pk>/battery/", views.battery_edit, name="battery"),
    path("<int:pk>/info/", views.device_info, name="info"),
    path("power-settings/", views.power_settings, name="power-settings"),
]
