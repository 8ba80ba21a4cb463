"""The pipeline through a real Celery worker process over Redis and PostgreSQL."""

import json
import re
import time
from collections.abc import Callable
from decimal import Decimal

import psycopg
import pytest
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from accounts.tests.factories import UserFactory
from catalog.models import Product
from orders.models import Order, OrderLine
from orders.services import order_place
from recommendations import training_runs
from recommendations.models import (
    ModelVersion,
    ProductAssociation,
    Recommendation,
    ReorderPrediction,
    TrainingRun,
)
from recommendations.tasks import refresh_retailer
from recommendations.tests.test_services import FAST, version_rows
from recommendations.tests.world import build_world
from smartbasket.celery import app

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

TRAINING_TIMEOUT = 600


def wait_for(condition: Callable[[], object], *, timeout: float, message: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def finished(run: TrainingRun) -> TrainingRun | None:
    run.refresh_from_db()
    return run if run.status in (TrainingRun.Status.SUCCEEDED, TrainingRun.Status.FAILED) else None


def queue_retrain() -> TrainingRun:
    return training_runs.retrain_enqueue(trigger=TrainingRun.Trigger.MANUAL, parameters={"hybrid": FAST})


def test_a_retrain_queued_to_the_worker_publishes_a_version(celery_worker) -> None:
    world = build_world()
    worker = celery_worker()

    run = queue_retrain()
    wait_for(lambda: finished(run), timeout=TRAINING_TIMEOUT, message="the retrain")

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error + worker.log()
    assert run.celery_task_id
    version = ModelVersion.objects.get(status=ModelVersion.Status.ACTIVE)
    assert version == run.model_version
    assert Recommendation.objects.filter(model_version=version).values("retailer").distinct().count() == len(
        world.retailers
    )


def _set_recorded_score(version: ModelVersion, score: float) -> None:
    """Retrains on the same orders compare each version's own holdout score: set the champion's."""
    version.metrics = version.metrics | {"hybrid": version.metrics["hybrid"] | {"ndcg@10": score}}
    version.save(update_fields=["metrics"])


def test_the_worker_applies_the_promotion_rule_both_ways(celery_worker) -> None:
    build_world()
    celery_worker()
    first = queue_retrain()
    wait_for(lambda: finished(first), timeout=TRAINING_TIMEOUT, message="the first retrain")
    champion = first.model_version

    _set_recorded_score(champion, 1.0)
    worse = queue_retrain()
    wait_for(lambda: finished(worse), timeout=TRAINING_TIMEOUT, message="the worse challenger")

    assert worse.status == TrainingRun.Status.SUCCEEDED, worse.error
    assert worse.model_version.status == ModelVersion.Status.CANDIDATE
    assert worse.model_version.decision.startswith("Kept as candidate, worse than the active version")
    champion.refresh_from_db()
    assert champion.status == ModelVersion.Status.ACTIVE

    _set_recorded_score(champion, 0.0)
    better = queue_retrain()
    wait_for(lambda: finished(better), timeout=TRAINING_TIMEOUT, message="the better challenger")

    assert better.model_version.status == ModelVersion.Status.ACTIVE, better.error
    assert better.model_version.decision.startswith("Promoted")
    champion.refresh_from_db()
    assert champion.status == ModelVersion.Status.RETIRED
    assert ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).count() == 1


def test_a_dashboard_polled_while_the_worker_publishes_shows_one_version_per_request(celery_worker) -> None:
    world = build_world()
    celery_worker()
    first = queue_retrain()
    wait_for(lambda: finished(first), timeout=TRAINING_TIMEOUT, message="the first retrain")
    client = Client()
    client.force_login(UserFactory(retailer=world.retailers[0]))
    _set_recorded_score(first.model_version, 0.0)

    second = queue_retrain()
    seen: list[int] = []
    # Keep reading through the publish and a few requests beyond it.
    after_finish = 0
    while after_finish < 5:
        page = client.get(reverse("recommendations:dashboard")).content.decode()
        versions = {int(v) for v in re.findall(r"model v(\d+)", page)}
        assert len(versions) == 1, versions
        assert page.count('class="rec-card') > 0
        seen.append(versions.pop())
        if finished(second):
            after_finish += 1

    assert second.status == TrainingRun.Status.SUCCEEDED, second.error
    assert seen[0] == first.model_version_id
    assert seen[-1] == second.model_version_id
    # Once the flip is seen, no request goes back to the old version.
    assert seen == sorted(seen)


def _send_as_beat_would(entry: PeriodicTask) -> None:
    app.send_task(entry.task, args=json.loads(entry.args), kwargs=json.loads(entry.kwargs), queue=entry.queue)


def test_the_beat_schedule_entries_run_on_the_worker(celery_worker, beat_schedule) -> None:
    world = build_world()
    celery_worker()
    entries = beat_schedule

    _send_as_beat_would(entries["recommendations.tasks.retrain_scheduled"])
    run = wait_for(
        lambda: TrainingRun.objects.filter(trigger=TrainingRun.Trigger.SCHEDULE).first(),
        timeout=60,
        message="the scheduled retrain to be queued",
    )
    wait_for(lambda: finished(run), timeout=TRAINING_TIMEOUT, message="the scheduled retrain")
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    version = run.model_version

    # An order recorded without the on-commit refresh (as when Redis was down): the hourly entry catches up.
    retailer = world.retailers[2]
    new_row = Recommendation.objects.filter(
        model_version=version, retailer=retailer, surface="new_for_you"
    ).first()
    order = Order.objects.create(retailer=retailer, status=Order.Status.PLACED, placed_at=timezone.now())
    OrderLine.objects.create(order=order, product=new_row.product, quantity=1, unit_price=Decimal("1.00"))

    _send_as_beat_would(entries["recommendations.tasks.refresh_recent_retailers"])
    wait_for(
        lambda: (
            not Recommendation.objects.filter(
                model_version=version, retailer=retailer, surface="new_for_you", product=new_row.product
            ).exists()
        ),
        timeout=60,
        message="the hourly refresh",
    )


def test_a_worker_killed_mid_precompute_leaves_the_active_rows_and_the_next_run_completes(
    celery_worker,
) -> None:
    build_world()
    worker = celery_worker()
    first = queue_retrain()
    wait_for(lambda: finished(first), timeout=TRAINING_TIMEOUT, message="the first retrain")
    active = ModelVersion.objects.get(status=ModelVersion.Status.ACTIVE)
    active_rows = version_rows(active)

    second = queue_retrain()
    challenger = wait_for(
        lambda: ModelVersion.objects.exclude(pk=active.pk).first(), timeout=60, message="the second version"
    )
    # Block the precompute where it writes the product associations, after every retailer row is committed.
    blocker = psycopg.connect(**_connection_kwargs())
    blocker.execute(f"LOCK TABLE {ProductAssociation._meta.db_table} IN SHARE MODE")
    try:
        backend_pid = wait_for(
            _backend_waiting_for_a_lock, timeout=TRAINING_TIMEOUT, message="the precompute"
        )
        assert Recommendation.objects.filter(model_version=challenger).exists()
        worker.kill()
    finally:
        blocker.rollback()
        blocker.close()
    wait_for(
        lambda: not _backend_alive(backend_pid), timeout=30, message="the killed worker's session to end"
    )

    active.refresh_from_db()
    assert active.status == ModelVersion.Status.ACTIVE
    assert version_rows(active) == active_rows
    second.refresh_from_db()
    assert second.status == TrainingRun.Status.RUNNING

    celery_worker()
    third = queue_retrain()
    wait_for(lambda: finished(third), timeout=TRAINING_TIMEOUT, message="the run after the kill")

    assert third.status == TrainingRun.Status.SUCCEEDED, third.error
    second.refresh_from_db()
    challenger.refresh_from_db()
    assert second.status == TrainingRun.Status.FAILED and "worker stopped" in second.error
    assert challenger.status == ModelVersion.Status.FAILED
    assert not Recommendation.objects.filter(model_version=challenger).exists()
    assert third.model_version.row_counts["bought_together"] > 0


def test_placing_an_order_refreshes_that_retailers_rows_through_the_worker(celery_worker) -> None:
    world = build_world()
    celery_worker()
    run = queue_retrain()
    wait_for(lambda: finished(run), timeout=TRAINING_TIMEOUT, message="the retrain")
    version = ModelVersion.objects.get(status=ModelVersion.Status.ACTIVE)
    retailer = world.retailers[0]
    new_row = Recommendation.objects.filter(
        model_version=version, retailer=retailer, surface="new_for_you"
    ).first()
    product = Product.objects.get(pk=new_row.product_id)

    with transaction.atomic():
        basket = Order.objects.create(retailer=retailer)
        OrderLine.objects.create(order=basket, product=product, quantity=2, unit_price=product.unit_price)
        order_place(order=basket)

    def refreshed() -> bool:
        return not Recommendation.objects.filter(
            model_version=version, retailer=retailer, surface="new_for_you", product=product
        ).exists()

    started = time.monotonic()
    wait_for(refreshed, timeout=60, message="the refresh after the order")
    print(f"refresh visible {time.monotonic() - started:.1f}s after the order was committed")
    assert Recommendation.objects.filter(model_version=version, retailer=retailer, surface="for_you").exists()


def test_running_the_refresh_task_twice_gives_the_same_rows(celery_worker) -> None:
    world = build_world()
    celery_worker()
    run = queue_retrain()
    wait_for(lambda: finished(run), timeout=TRAINING_TIMEOUT, message="the retrain")
    version = ModelVersion.objects.get(status=ModelVersion.Status.ACTIVE)
    retailer = world.retailers[1]

    _run_and_wait(refresh_retailer, retailer.pk)
    once = _retailer_rows(version, retailer.pk)
    _run_and_wait(refresh_retailer, retailer.pk)

    assert _retailer_rows(version, retailer.pk) == once
    assert once[0] and once[1]


def _run_and_wait(task, *args) -> None:
    before = _refresh_marker()
    task.delay(*args)
    wait_for(lambda: _refresh_marker() != before, timeout=60, message=f"{task.name}{args}")


def _refresh_marker() -> tuple:
    return tuple(Recommendation.objects.order_by("-id").values_list("id", flat=True)[:1])


def _retailer_rows(version: ModelVersion, retailer_id: int) -> tuple[list, list]:
    recommendations = list(
        Recommendation.objects.filter(model_version=version, retailer_id=retailer_id)
        .order_by("surface", "rank")
        .values_list("surface", "rank", "product_id", "score", "reasons")
    )
    reorders = list(
        ReorderPrediction.objects.filter(model_version=version, retailer_id=retailer_id)
        .order_by("product_id")
        .values_list("product_id", "expected_date", "confidence", "cadence_days", "last_ordered")
    )
    return recommendations, reorders


def _connection_kwargs() -> dict:
    settings = connection.settings_dict
    return {
        "dbname": settings["NAME"],
        "user": settings["USER"],
        "host": settings["HOST"] or "127.0.0.1",
        "port": settings["PORT"] or 5432,
    }


def _backend_waiting_for_a_lock() -> int | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            " AND query ILIKE %s",
            [f"%{ProductAssociation._meta.db_table}%"],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _backend_alive(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone() is not None
