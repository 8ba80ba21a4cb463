from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"

    def ready(self) -> None:
        # Registers the deploy check that warns when production would write its mail to the log.
        from notifications import checks  # noqa: F401
