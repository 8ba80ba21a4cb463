from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "catalog"

    def ready(self) -> None:
        # Connects the signals that bump the catalogue stamp after any product, category or vendor change.
        from catalog import stamp  # noqa: F401
