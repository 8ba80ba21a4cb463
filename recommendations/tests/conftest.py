"""Headless Chromium for the `browser` tests (Debian's chromium driven by Playwright, never a downloaded
one) and the beat schedule as its migration creates it."""

import importlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.apps import apps
from django.conf import settings as django_settings
from django_celery_beat.models import PeriodicTask

from recommendations import feedback

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# Per module, not per session: Playwright's sync API keeps an event loop running in this thread while it is
# open, and Django cannot run an async view (the health checks) from a thread with a running loop.
@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    # Playwright's sync API runs an event loop in this thread; the ORM calls made by the test and by
    # live_server fixtures are still plain synchronous calls, so Django's async guard must stand aside.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def screenshots_dir(settings) -> Path:
    directory = Path(settings.BASE_DIR) / "artifacts" / "screenshots"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture
def beat_schedule(db) -> dict[str, PeriodicTask]:
    """This app's enabled periodic tasks by task name (accounts has its own). Re-created here because
    transactional tests flush the rows the migrations made."""
    for name in ("0002_beat_schedule", "0003_task_outbox", "0006_feedback_flush_schedule"):
        importlib.import_module(f"recommendations.migrations.{name}").create_schedule(apps, None)
    entries = PeriodicTask.objects.filter(enabled=True, task__startswith="recommendations.")
    return {entry.task: entry for entry in entries}


# Redis as the cache, for the tests of what is buffered or cached in it (feedback, predictions, answers).
CLOSED_PORT_URL = "redis://127.0.0.1:1/0"


def redis_cache(location: str, prefix: str) -> dict:
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": location,
            "KEY_PREFIX": prefix,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }


@pytest.fixture
def buffered(settings) -> Iterator[redis.Redis]:
    """The cache in a Redis database of this test run's own, under a prefix of this test's own."""
    base = (django_settings.REDIS_URL or "redis://127.0.0.1:6379/0").rsplit("/", 1)[0]
    location = f"{base}/{os.environ.get('SMARTBASKET_WORKER_REDIS_DB', '13')}"
    prefix = f"test-{uuid.uuid4().hex}"
    settings.CACHES = redis_cache(location, prefix)
    feedback._redis_down_until = 0.0
    client = redis.Redis.from_url(location)
    yield client
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)
    feedback._redis_down_until = 0.0


@pytest.fixture
def redis_down(settings) -> Iterator[None]:
    settings.CACHES = redis_cache(CLOSED_PORT_URL, "down")
    feedback._redis_down_until = 0.0
    yield
    feedback._redis_down_until = 0.0
