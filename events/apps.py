from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = "Events and e-mail"

    def ready(self) -> None:
        # portal/ sits below this app: its login guard announces a lock-out by a signal.
        from events import hooks  # noqa: F401
