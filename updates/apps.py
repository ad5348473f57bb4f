from django.apps import AppConfig


class UpdatesConfig(AppConfig):
    name = "updates"
    verbose_name = "Software updates"

    def ready(self) -> None:
        from updates import releases

        releases.register_kinds()  # an install runs as a job in the worker, with progress (DEV-4)
