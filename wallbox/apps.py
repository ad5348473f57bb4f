from django.apps import AppConfig


class WallboxConfig(AppConfig):
    name = "wallbox"
