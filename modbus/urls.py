from django.urls import path

from modbus import views

app_name = "modbus"

urlpatterns = [
    path("", views.modbus_settings, name="settings"),
    path("slave/", views.save_slave, name="slave"),
    path("master/", views.save_master, name="master"),
    path("rs485/<str:name>/", views.save_serial, name="serial"),
    path("targets/", views.add_target, name="add-target"),
    path("targets/<int:pk>/delete/", views.delete_target, name="delete-target"),
    path("certificates/<int:pk>/accept/", views.accept_certificate, name="accept-certificate"),
    path("certificates/<int:pk>/delete/", views.delete_certificate, name="delete-certificate"),
    path("export/", views.export_config, name="export"),
    path("import/", views.import_config, name="import"),
]
