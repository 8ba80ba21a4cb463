"""Headless Chromium for the `browser` tests (Debian's chromium driven by Playwright, never a downloaded
one) and the beat schedule as its migration creates it."""

import importlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.apps import apps
from django_celery_beat.models import PeriodicTask

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
