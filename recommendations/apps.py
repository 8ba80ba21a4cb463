from django.apps import AppConfig


class RecommendationsConfig(AppConfig):
    name = "recommendations"

    def ready(self) -> None:
        from recommendations import documents  # noqa: F401  (connects the catalogue-stamp receivers)
