from django.urls import path, re_path

from plant.consumers import PlantLiveConsumer, RefusedSocket

websocket_urlpatterns = [
    path("ws/plants/<int:plant_id>/live/", PlantLiveConsumer.as_asgi()),
    # Last: a path no route matches is refused at the handshake instead of raising in the router.
    re_path(r"", RefusedSocket.as_asgi()),
]
