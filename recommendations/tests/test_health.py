"""The health endpoints: every service reported with a real worker, a stopped or hung Redis reported quickly,
and the active model version's age. Checks run in threads of their own, so these tests commit their data
(transactional_db) for those threads' connections to see it."""

import json
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from recommendations.models import ModelVersion
from recommendations.tests.factories import ModelVersionFactory

pytestmark = pytest.mark.django_db(transaction=True)

# Each check has a client timeout of a second or two: the whole answer comes well within a probe's budget.
PROMPT_SECONDS = 5.0
MONITORED = {"database", "cache", "static files", "broker", "celery worker", "model version"}


def health(path: str = "/health/") -> tuple[int, dict[str, str], float]:
    started = time.monotonic()
    response = Client().get(path, HTTP_ACCEPT="application/json")
    return response.status_code, json.loads(response.content), time.monotonic() - started


@pytest.fixture
def redis_at(settings, celery_broker) -> Callable[[str], None]:
    """Points the cache, the broker check and the Celery app at another Redis for the test."""

    def point(url: str) -> None:
        settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": url}}
        settings.CELERY_BROKER_URL = url
        celery_broker(url)

    return point


@pytest.mark.worker
def test_health_reports_every_service_healthy_with_a_running_worker(celery_worker) -> None:
    celery_worker()
    version = ModelVersionFactory()

    status, report, _ = health()

    assert status == 200, report
    assert set(report) == MONITORED
    assert report["model version"] == f"OK: active version v{version.pk} trained 0.0 h ago (limit 48 h)"
    assert all(value.startswith("OK") for value in report.values())


def test_health_is_unavailable_promptly_when_redis_is_stopped(own_redis, redis_at) -> None:
    ModelVersionFactory()
    redis_at(own_redis.url())
    own_redis.stop()

    status, report, seconds = health()

    assert status == 503
    assert seconds < PROMPT_SECONDS
    assert report["database"] == "OK"
    assert report["cache"] == "Unavailable: Cannot write and read the cache"
    assert report["broker"] == "Unavailable: Cannot reach the Celery broker (Redis)"
    assert report["celery worker"].startswith("Unavailable: Cannot reach the Celery broker")


def test_health_is_unavailable_promptly_when_redis_hangs(own_redis, redis_at) -> None:
    ModelVersionFactory()
    redis_at(own_redis.url())
    own_redis.pause()

    status, report, seconds = health()

    assert status == 503
    assert seconds < PROMPT_SECONDS
    assert report["database"] == "OK"
    assert {name for name, value in report.items() if value != "OK"} >= {"cache", "broker", "celery worker"}


def test_readiness_ignores_redis_the_worker_and_the_model(own_redis, redis_at) -> None:
    # A balancer must keep serving pages (orders go through the task outbox) while Redis is down.
    redis_at(own_redis.url())
    own_redis.stop()

    status, report, seconds = health("/health/ready/")

    assert (status, report) == (200, {"database": "OK", "static files": "OK"})
    assert seconds < PROMPT_SECONDS


def test_health_fails_without_an_active_model_version() -> None:
    status, report, _ = health()

    assert status == 503
    assert report["model version"] == (
        "Unavailable: No active model version: run `manage.py retrain` or retrain from the admin"
    )


def test_health_warns_when_the_active_version_is_older_than_allowed(settings) -> None:
    version = ModelVersionFactory()
    ModelVersion.objects.filter(pk=version.pk).update(created_at=timezone.now() - timedelta(hours=50))

    status, report, _ = health()

    assert status == 503
    assert report["model version"] == (
        f"Warning: Active version v{version.pk} was trained 50.0 h ago, more than the 48 h allowed: "
        "check the latest training runs in the admin"
    )

    settings.MODEL_MAX_AGE_HOURS = 72
    _, report, _ = health()
    assert report["model version"] == f"OK: active version v{version.pk} trained 50.0 h ago (limit 72 h)"


def test_health_is_public_and_names_no_host(settings) -> None:
    ModelVersionFactory()

    response = Client().get("/health/?format=json")

    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"].startswith("max-age=0")
    body = response.content.decode()
    assert "127.0.0.1" not in body and "6379" not in body and "5432" not in body


def test_health_is_served_over_plain_http_when_https_is_enforced(settings) -> None:
    # Balancers probe the web process directly; every other page still redirects.
    settings.SECURE_SSL_REDIRECT = True

    assert Client().get("/health/ready/").status_code == 200
    assert Client().get("/login/").status_code == 301
