import importlib
import inspect
import json
from datetime import UTC, date, datetime, timedelta

import pytest
from django.apps import apps
from django_celery_beat.models import PeriodicTask

from catalog.tests.factories import ProductFactory
from orders.tests.factories import OrderLineFactory
from recommendations.models import TaskOutbox
from smartbasket.celery import app
from vendors import tasks
from vendors.models import SalesFact, VendorAnalytics

pytestmark = pytest.mark.django_db


def test_the_rollups_task_refreshes_one_vendor_by_id() -> None:
    product = ProductFactory()
    OrderLineFactory(product=product, order__placed_at=datetime(2024, 4, 2, 9, tzinfo=UTC), quantity=6)

    result = tasks.refresh_vendor_rollups.apply(args=[product.vendor_id], throw=True).get()

    assert result == "2024-04-02"
    assert VendorAnalytics.objects.get(vendor_id=product.vendor_id).as_of == date(2024, 4, 2)
    assert SalesFact.objects.get(vendor_id=product.vendor_id).units == 6


def test_the_schedule_task_queues_per_vendor_tasks_through_the_outbox() -> None:
    product = ProductFactory()

    assert tasks.refresh_all_vendors.apply(kwargs={"forecasts": True}, throw=True).get() == [
        product.vendor_id
    ]

    assert list(TaskOutbox.objects.values_list("task_name", "args")) == [
        ("vendors.tasks.refresh_vendor_forecasts", [product.vendor_id, True])
    ]


def test_every_task_has_explicit_time_limits() -> None:
    for task in (tasks.refresh_vendor_rollups, tasks.refresh_vendor_forecasts, tasks.refresh_all_vendors):
        assert task.soft_time_limit and task.time_limit and task.soft_time_limit < task.time_limit


def test_the_beat_schedule_refreshes_rollups_hourly_and_forecasts_nightly() -> None:
    # Re-created as the migration does: a transactional test earlier in the run flushes the migrated rows.
    importlib.import_module("vendors.migrations.0003_beat_schedule").create_schedule(apps, None)
    schedule = {
        entry.name: entry
        for entry in PeriodicTask.objects.filter(task__startswith="vendors.").select_related("crontab")
    }

    hourly = schedule["Hourly refresh of the vendor sales rollups"]
    nightly = schedule["Nightly vendor forecasts"]
    assert (hourly.crontab.minute, hourly.crontab.hour, hourly.kwargs) == ("40", "*", "{}")
    assert (nightly.crontab.hour, nightly.kwargs) == ("3", '{"forecasts": true}')
    for entry in (hourly, nightly):
        assert entry.queue == "celery" and entry.enabled
        task = app.tasks[entry.task]
        inspect.signature(task.run).bind(*json.loads(entry.args), **json.loads(entry.kwargs))


def test_the_forecasts_task_refreshes_the_rollups_first_when_asked() -> None:
    product = ProductFactory()
    for week in range(8):
        placed_at = datetime(2024, 4, 1, 9, tzinfo=UTC) + timedelta(weeks=week)
        OrderLineFactory(product=product, order__placed_at=placed_at, quantity=3)

    run_id = tasks.refresh_vendor_forecasts.apply(args=[product.vendor_id, True], throw=True).get()

    analytics = VendorAnalytics.objects.get(vendor_id=product.vendor_id)
    assert analytics.as_of == date(2024, 5, 20) and analytics.forecast_run_id == run_id
