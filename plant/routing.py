from django.urls import path

from plant.consumers import PlantLiveConsumer

websocket_urlpatterns = [
    path("ws/plants/<int:plant_id>/live/", PlantLiveConsumer.as_asgi()),
]
