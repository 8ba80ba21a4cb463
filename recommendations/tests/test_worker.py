"""The pipeline through a real Celery worker process over Redis and PostgreSQL."""

import time
from collections.abc import Callable

import psycopg
import pytest
from django.db import connection, transaction

from catalog.models import Product
from orders.models import Order, OrderLine
from orders.services import order_place
from recommendations import services
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
    return services.retrain_enqueue(trigger=TrainingRun.Trigger.MANUAL, parameters={"hybrid": FAST})


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
        .values_list("surface", "rank", "product_id", "score", "reasons", "explanation")
    )
    reorders = list(
        ReorderPrediction.objects.filter(model_version=version, retailer_id=retailer_id)
        .order_by("product_id")
        .values_list("product_id", "expected_date", "confidence", "cadence_days", "explanation")
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
