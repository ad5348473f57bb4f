from django.urls import path

from smartgrid.eebus import views

app_name = "eebus"

urlpatterns = [
    path("", views.connections, name="connections"),
    path("new/", views.new_connection, name="new"),
    path("<str:action>/", views.peer_action, name="action"),
]
