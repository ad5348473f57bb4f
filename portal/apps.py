from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"

    def ready(self) -> None:
        # Dependency turned around: the device apps' views import portal.roles, which must not
        # import plant/ (a higher layer); the portal app hands it the plant's request helper.
        from plant.services import current_plant
        from portal import roles

        roles.use_request_plant(current_plant)
