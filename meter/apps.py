from django.apps import AppConfig


class MeterConfig(AppConfig):
    name = "meter"
