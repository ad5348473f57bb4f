from django.apps import AppConfig


class WallboxConfig(AppConfig):
    name = "wallbox"

    def ready(self) -> None:
        from wallbox import jobs

        jobs.register_kinds()  # the worker finds the wallbox's device jobs (devicejobs.register)
