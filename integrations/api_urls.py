from django.urls import path

from integrations import api

urlpatterns = [
    path("mqtt", api.MqttSettingsView.as_view(), name="api-mqtt"),
    path("mqtt/test", api.MqttTestView.as_view(), name="api-mqtt-test"),
]
