from django.apps import AppConfig


class RecommendationsConfig(AppConfig):
    name = "recommendations"

    def ready(self) -> None:
        # Connect the receivers that mark cached entries stale: the catalogue-stamp ones (documents) and the
        # active version's tombstone (selectors).
        from recommendations import documents, selectors  # noqa: F401
