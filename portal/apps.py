from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    # The plant a request is about is handed in from above: plant's AppConfig.ready() calls
    # portal.roles.use_request_plant with its resolver (portal sits below plant and every app).
