from django.urls import path

import access.rest  # noqa: F401  (registers the <id:…> path converter)
from modbus.api import views

urlpatterns = [
    path("modbus/settings", views.SettingsView.as_view(), name="api-modbus-settings"),
    path("modbus/map", views.MapView.as_view(), name="api-modbus-map"),
    path("modbus/serial-interfaces/", views.SerialListView.as_view(), name="api-modbus-serial-interfaces"),
    path("modbus/serial-interfaces/<str:name>", views.SerialDetailView.as_view(), name="api-modbus-serial-interface"),
    path("modbus/targets/", views.TargetListView.as_view(), name="api-modbus-targets"),
    path("modbus/targets/<id:pk>", views.TargetDetailView.as_view(), name="api-modbus-target"),
    path("modbus/certificates/", views.CertificateListView.as_view(), name="api-modbus-certificates"),
    path("modbus/certificates/<id:pk>", views.CertificateDetailView.as_view(), name="api-modbus-certificate"),
    path(
        "modbus/certificates/<id:pk>/accept",
        views.CertificateAcceptView.as_view(),
        name="api-modbus-certificate-accept",
    ),
    path("modbus/config", views.ConfigView.as_view(), name="api-modbus-config"),
]
