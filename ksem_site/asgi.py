"""HTTP and websocket routing for the web process."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ksem_site.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from access.limits import BodyLimitASGI  # noqa: E402
from plant.api.views import StateFastPath  # noqa: E402
from plant.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        # The API's hottest request (current values with a bearer token) skips Django when cached.
        # A body over the largest upload cap is refused (413) before it is received.
        "http": BodyLimitASGI(StateFastPath(django_asgi_app)),
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
