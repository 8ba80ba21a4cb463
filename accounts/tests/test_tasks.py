import importlib
import inspect
from datetime import timedelta

import pytest
from axes.models import AccessLog
from celery import current_app
from django.apps import apps
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from accounts.tasks import access_logs_prune

pytestmark = pytest.mark.django_db


def _sign_in_logged(*, days_ago: int) -> AccessLog:
    entry = AccessLog.objects.create(username="shop", ip_address="192.0.2.1", user_agent="test")
    # attempt_time is auto_now_add: set the age after the insert.
    AccessLog.objects.filter(pk=entry.pk).update(attempt_time=timezone.now() - timedelta(days=days_ago))
    return entry


def test_the_sign_in_log_keeps_only_the_configured_number_of_days(settings) -> None:
    settings.AXES_ACCESS_LOG_DAYS = 30
    recent = _sign_in_logged(days_ago=29)
    _sign_in_logged(days_ago=31)

    assert access_logs_prune() == 1

    assert list(AccessLog.objects.values_list("pk", flat=True)) == [recent.pk]


def test_the_prune_is_a_nightly_beat_entry_of_a_registered_task() -> None:
    migration = importlib.import_module("accounts.migrations.0003_access_log_prune_schedule")
    migration.create_schedule(apps, None)

    entry = PeriodicTask.objects.get(name=migration.NIGHTLY_ACCESS_LOG_PRUNE)

    assert entry.enabled
    assert (entry.crontab.hour, entry.crontab.minute) == ("3", "30")
    task = current_app.tasks[entry.task]
    inspect.signature(task.run).bind()
