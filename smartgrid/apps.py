from django.apps import AppConfig


class SmartgridConfig(AppConfig):
    name = "smartgrid"
