from django.apps import AppConfig


class InvertersConfig(AppConfig):
    name = "inverters"
