from django.urls import path

from integrations import views

app_name = "integrations"

urlpatterns = [
    path("", views.mqtt_settings, name="mqtt"),
    path("save/", views.save, name="save"),
    path("test/", views.test_connection, name="test"),
]
