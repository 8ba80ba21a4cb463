"""Health check: is there an active model version, and is it recent enough to trust?

A missing active version means the dashboard and the API have nothing to recommend (unavailable); one
older than `MODEL_MAX_AGE_HOURS` (env `SMARTBASKET_MODEL_MAX_AGE_HOURS`) means the nightly retrain has not
produced a new champion for that long, either because retraining fails or because every challenger lost (a
warning: the service still answers, but somebody should look at the training runs in the admin).
"""

import dataclasses
import datetime

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone
from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable, ServiceWarning

from recommendations.selectors import active_version


@dataclasses.dataclass(repr=False)
class ActiveModelVersion(HealthCheck):
    timeout = datetime.timedelta(seconds=2)
    # Filled by `run`: which version is active and how old it is, shown beside "OK" too.
    summary: str = dataclasses.field(default="", init=False, repr=False)

    def __repr__(self) -> str:
        return "model version"

    def pretty_status(self) -> str:
        return f"OK: {self.summary}" if self.summary else "OK"

    @property
    def labels(self) -> dict[str, str]:
        return {"check": "model version"}

    def run(self) -> None:
        try:
            version = active_version()
        except DatabaseError as exc:
            raise ServiceUnavailable("Cannot read the active model version from PostgreSQL") from exc
        finally:
            # Checks run in a short-lived thread of their own; its connection must not outlive it.
            connection.close()
        if version is None:
            raise ServiceUnavailable(
                "No active model version: run `manage.py retrain` or retrain from the admin"
            )
        age = timezone.now() - version.created_at
        hours = age.total_seconds() / 3600
        limit = settings.MODEL_MAX_AGE_HOURS
        self.summary = f"active version v{version.pk} trained {hours:.1f} h ago (limit {limit} h)"
        if hours > limit:
            raise ServiceWarning(
                f"Active version v{version.pk} was trained {hours:.1f} h ago, more than the {limit} h "
                "allowed: check the latest training runs in the admin"
            )
