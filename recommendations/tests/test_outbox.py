"""Enqueueing never blocks or fails a request (the task outbox), and request ids from the request log line to
the worker's log. Each test that needs Redis to hang or stop runs a redis-server of its own."""

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest
import redis
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.http import HttpRequest
from django.test import Client
from django.urls import include, path, reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from rest_framework.test import APIClient

from accounts.tests.factories import DEFAULT_PASSWORD, RetailerFactory, UserFactory
from catalog.models import Product
from catalog.tests.factories import ProductFactory
from conftest import RedisServer
from orders.models import Order
from orders.tests.factories import OrderFactory, OrderLineFactory
from recommendations import outbox, refresh, training, training_runs
from recommendations.models import ModelVersion, Recommendation, TaskOutbox, TrainingRun
from recommendations.tasks import deliver_outbox
from recommendations.tests.test_services import FAST
from recommendations.tests.world import build_world
from smartbasket.celery import app

# A request whose enqueue fails still answers within this (the broker's socket timeout is 1 s).
PROMPT_SECONDS = 4.0
REFRESH_TASK = "recommendations.tasks.refresh_retailer"


@pytest.fixture
def shop_user():
    # These tests follow the refresh an order queues; the order confirmation's own trip through the outbox is
    # tested in accounts/tests/test_mail_*.py.
    return UserFactory(email_order_confirmations=False)


def _fill_basket(user) -> Order:
    basket = OrderFactory(retailer=user.retailer, basket=True)
    OrderLineFactory(order=basket, product=ProductFactory(unit_price=Decimal("2.00")), quantity=3)
    return basket


def _api_client(user) -> APIClient:
    client = APIClient()
    token = client.post(
        reverse("api-v1-token"), {"username": user.username, "password": DEFAULT_PASSWORD}, format="json"
    ).json()["access"]
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def _assert_placed_with_pending_refresh(basket: Order) -> TaskOutbox:
    basket.refresh_from_db()
    assert basket.status == Order.Status.PLACED
    entry = TaskOutbox.objects.get()
    assert (entry.task_name, entry.args) == (REFRESH_TASK, [basket.retailer_id])
    assert entry.delivered_at is None
    assert entry.claimed_until is None, "a failed publish releases its lease for the periodic delivery"
    assert entry.attempts == 1
    assert entry.last_error
    return entry


def _assert_one_line_warning(caplog: pytest.LogCaptureFixture) -> None:
    failures = [record for record in caplog.records if "Could not publish" in record.getMessage()]
    assert len(failures) == 1
    assert failures[0].levelno == logging.WARNING
    assert failures[0].exc_info is None
    assert "it stays pending" in failures[0].getMessage()


# --- (a) a hung Redis and (b) a stopped Redis: the order is placed and answered at once, its refresh waits.


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("outage", ["hung", "stopped"])
def test_placing_an_order_in_the_portal_answers_promptly_when_redis_is_down(
    outage: str, own_redis: RedisServer, celery_broker, shop_user, client: Client, caplog
) -> None:
    basket = _fill_basket(shop_user)
    client.force_login(shop_user)
    celery_broker(own_redis.url())
    own_redis.pause() if outage == "hung" else own_redis.stop()

    started = time.monotonic()
    response = client.post(reverse("orders:place"))
    elapsed = time.monotonic() - started

    print(f"order placement through the portal with Redis {outage}: {elapsed:.2f}s")
    assert elapsed < PROMPT_SECONDS
    assert response.status_code == 302
    assert response["Location"] == reverse("orders:detail", args=[basket.pk])
    entry = _assert_placed_with_pending_refresh(basket)
    assert entry.request_id == response["X-Request-ID"]
    _assert_one_line_warning(caplog)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("outage", ["hung", "stopped"])
def test_placing_an_order_through_the_api_answers_promptly_when_redis_is_down(
    outage: str, own_redis: RedisServer, celery_broker, shop_user, caplog
) -> None:
    basket = _fill_basket(shop_user)
    api = _api_client(shop_user)
    celery_broker(own_redis.url())
    own_redis.pause() if outage == "hung" else own_redis.stop()

    started = time.monotonic()
    response = api.post(reverse("api-v1-basket-place"))
    elapsed = time.monotonic() - started

    print(f"order placement through the API with Redis {outage}: {elapsed:.2f}s")
    assert elapsed < PROMPT_SECONDS
    assert response.status_code == 201
    assert response.json()["status"] == "placed"
    _assert_placed_with_pending_refresh(basket)
    _assert_one_line_warning(caplog)


@pytest.mark.django_db(transaction=True)
def test_after_a_failed_publish_the_next_requests_do_not_wait_for_redis_again(
    own_redis: RedisServer, celery_broker, shop_user, client: Client
) -> None:
    client.force_login(shop_user)
    celery_broker(own_redis.url())
    own_redis.pause()
    _fill_basket(shop_user)
    client.post(reverse("orders:place"))

    _fill_basket(shop_user)
    started = time.monotonic()
    response = client.post(reverse("orders:place"))

    assert time.monotonic() - started < 0.5
    assert response.status_code == 302
    assert TaskOutbox.objects.filter(delivered_at__isnull=True).count() == 2
    assert TaskOutbox.objects.filter(attempts=0).count() == 1, "the second order's refresh was not tried"


@pytest.mark.django_db(transaction=True)
def test_a_retrain_queued_while_redis_hangs_stays_pending_and_is_delivered_later(
    own_redis: RedisServer, celery_broker
) -> None:
    celery_broker(own_redis.url())
    own_redis.pause()

    started = time.monotonic()
    run = training_runs.retrain_enqueue(trigger=TrainingRun.Trigger.MANUAL)
    assert time.monotonic() - started < PROMPT_SECONDS

    run.refresh_from_db()
    entry = TaskOutbox.objects.get()
    assert run.status == TrainingRun.Status.PENDING
    assert run.celery_task_id == entry.celery_task_id
    assert entry.delivered_at is None

    own_redis.resume()
    assert outbox.task_outbox_deliver_pending() == 1
    entry.refresh_from_db()
    assert entry.delivered_at is not None
    queued = redis.Redis.from_url(own_redis.url()).lrange("recommendations", 0, -1)
    assert len(queued) == 1 and entry.celery_task_id.encode() in queued[0]


@pytest.mark.django_db(transaction=True)
def test_an_order_placed_with_redis_up_is_published_at_commit(
    own_redis: RedisServer, celery_broker, shop_user, client: Client
) -> None:
    basket = _fill_basket(shop_user)
    client.force_login(shop_user)
    celery_broker(own_redis.url())

    response = client.post(reverse("orders:place"), HTTP_X_REQUEST_ID="order-req-1")

    assert response.status_code == 302
    entry = TaskOutbox.objects.get()
    assert entry.delivered_at is not None and entry.attempts == 1
    assert entry.request_id == "order-req-1"
    queued = redis.Redis.from_url(own_redis.url()).lrange("recommendations", 0, -1)
    assert len(queued) == 1
    assert b"order-req-1" in queued[0] and str(basket.retailer_id).encode() in queued[0]


# --- (d) delivery is idempotent.


@pytest.mark.django_db(transaction=True)
def test_two_deliverers_running_at_once_send_each_pending_row_exactly_once(
    own_redis: RedisServer, celery_broker
) -> None:
    celery_broker(own_redis.url())
    # Pending rows, as the publish at commit left them when it failed.
    entries = [
        TaskOutbox.objects.create(task_name=REFRESH_TASK, args=[n], celery_task_id=f"t-{n}")
        for n in range(40)
    ]

    def deliverer() -> None:
        try:
            outbox.task_outbox_deliver_pending()
        finally:
            connection.close()

    threads = [threading.Thread(target=deliverer) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    queued = redis.Redis.from_url(own_redis.url()).lrange("recommendations", 0, -1)
    sent_ids = sorted(re.search(rb'"id": "([^"]+)"', message).group(1).decode() for message in queued)
    assert sent_ids == sorted(entry.celery_task_id for entry in entries)
    assert set(TaskOutbox.objects.values_list("attempts", flat=True)) == {1}
    assert not TaskOutbox.objects.filter(delivered_at__isnull=True).exists()
    assert outbox.task_outbox_deliver_pending() == 0


@pytest.mark.django_db
def test_a_row_leased_by_another_deliverer_is_left_alone_until_its_lease_expires(
    own_redis: RedisServer, celery_broker
) -> None:
    celery_broker(own_redis.url())
    entry = TaskOutbox.objects.create(
        task_name=REFRESH_TASK, args=[1], celery_task_id="leased", claimed_until=timezone.now() + timedelta(1)
    )

    assert outbox.task_outbox_deliver_pending() == 0

    TaskOutbox.objects.filter(pk=entry.pk).update(claimed_until=timezone.now() - timedelta(seconds=1))
    assert outbox.task_outbox_deliver_pending() == 1


@pytest.mark.django_db
def test_the_delivery_stops_at_the_first_failure_instead_of_waiting_on_every_row(
    own_redis: RedisServer, celery_broker
) -> None:
    for n in range(5):
        TaskOutbox.objects.create(task_name=REFRESH_TASK, args=[n], celery_task_id=f"task-{n}")
    celery_broker(own_redis.url())
    own_redis.pause()

    started = time.monotonic()
    assert outbox.task_outbox_deliver_pending() == 0

    assert time.monotonic() - started < PROMPT_SECONDS
    assert list(TaskOutbox.objects.order_by("id").values_list("attempts", flat=True)) == [1, 0, 0, 0, 0]
    assert not TaskOutbox.objects.filter(claimed_until__isnull=False).exists()


@pytest.mark.django_db
def test_completed_rows_are_pruned_after_a_week_and_rows_not_completed_never() -> None:
    now = timezone.now()
    month_ago = now - timedelta(30)
    old = TaskOutbox.objects.create(
        task_name=REFRESH_TASK,
        celery_task_id="old",
        delivered_at=now - timedelta(8),
        completed_at=now - timedelta(8),
    )
    recent = TaskOutbox.objects.create(
        task_name=REFRESH_TASK, celery_task_id="recent", delivered_at=now, completed_at=now
    )
    pending = TaskOutbox.objects.create(task_name=REFRESH_TASK, celery_task_id="pending")
    published = TaskOutbox.objects.create(
        task_name=REFRESH_TASK, celery_task_id="published", delivered_at=month_ago
    )
    given_up = TaskOutbox.objects.create(
        task_name=REFRESH_TASK, celery_task_id="given-up", delivered_at=month_ago, gave_up_at=month_ago
    )
    TaskOutbox.objects.filter(pk=pending.pk).update(created_at=month_ago)

    assert outbox.task_outbox_prune() == 1

    assert set(TaskOutbox.objects.values_list("pk", flat=True)) == {
        recent.pk,
        pending.pk,
        published.pk,
        given_up.pk,
    }
    assert not TaskOutbox.objects.filter(pk=old.pk).exists()


def test_the_beat_schedule_delivers_the_outbox_every_30_seconds(
    beat_schedule: dict[str, PeriodicTask],
) -> None:
    entry = beat_schedule["recommendations.tasks.deliver_outbox"]
    assert (entry.interval.every, entry.interval.period) == (30, "seconds")
    assert entry.task in app.tasks


@pytest.mark.django_db
def test_without_redis_tasks_still_run_in_process_after_commit(django_capture_on_commit_callbacks) -> None:
    # A retrain is queued here directly: training_runs.retrain_enqueue sends one to a process of its own
    # instead (recommendations/tests/test_admin_console.py).
    run = training_runs.training_run_create(trigger=TrainingRun.Trigger.MANUAL)
    app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            outbox.task_outbox_add(task_name="recommendations.tasks.retrain", args=[run.pk])
    finally:
        app.conf.task_always_eager = False

    run.refresh_from_db()
    # It ran here and then: with no orders there is nothing to learn, which the run records.
    assert run.status == TrainingRun.Status.FAILED
    assert "no placed orders" in run.error
    assert not TaskOutbox.objects.exists()


# --- (c) the worker: what waited in the outbox reaches it once Redis answers again, with its request id.


@pytest.fixture
def worker_on_own_redis(own_redis: RedisServer, settings) -> RedisServer:
    """Makes the `celery_worker` fixture (requested after this one) use this test's own redis-server."""
    settings.REDIS_URL = own_redis.url()
    return own_redis


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_an_order_placed_while_redis_hung_is_refreshed_by_the_worker_once_redis_answers(
    worker_on_own_redis: RedisServer, celery_worker, client: Client
) -> None:
    world = build_world()
    worker = celery_worker()
    run = training_runs.training_run_create(trigger=TrainingRun.Trigger.COMMAND, parameters={"hybrid": FAST})
    version = training.training_run_execute(run_id=run.pk).model_version
    assert version.status == ModelVersion.Status.ACTIVE
    retailer = world.retailers[0]
    new_row = Recommendation.objects.filter(
        model_version=version, retailer=retailer, surface="new_for_you"
    ).first()
    product = Product.objects.get(pk=new_row.product_id)
    user = UserFactory(retailer=retailer)
    basket = OrderFactory(retailer=retailer, basket=True)
    OrderLineFactory(order=basket, product=product, quantity=2)
    client.force_login(user)

    worker_on_own_redis.pause()
    started = time.monotonic()
    response = client.post(reverse("orders:place"), HTTP_X_REQUEST_ID="hung-redis-order-42")
    assert time.monotonic() - started < PROMPT_SECONDS
    assert response.status_code == 302
    entry = TaskOutbox.objects.get(task_name=REFRESH_TASK)
    assert entry.delivered_at is None

    worker_on_own_redis.resume()
    deliver_outbox.delay()

    def refreshed() -> bool:
        return not Recommendation.objects.filter(
            model_version=version, retailer=retailer, surface="new_for_you", product=product
        ).exists()

    deadline = time.monotonic() + 60
    while not refreshed():
        assert time.monotonic() < deadline, f"no refresh after the delivery:\n{worker.log()}"
        time.sleep(0.2)
    entry.refresh_from_db()
    # Completed; not necessarily marked delivered: a publish that timed out reading the reply of a pooled
    # connection may have reached the hung Redis after all, and its task then completes before the delivery
    # claims the row (at-least-once: the row is done either way, and never published twice once completed).
    assert entry.completed_at is not None and not entry.task_error
    # The worker's line for the task names the request that queued it, though it waited in the outbox.
    deadline = time.monotonic() + 10
    pattern = re.compile(rf"request_id=hung-redis-order-42\].*{re.escape(entry.celery_task_id)}\] succeeded")
    while not pattern.search(worker.log()):
        assert time.monotonic() < deadline, worker.log()
        time.sleep(0.2)


# --- (e) done means run: what Redis forgot or a killed worker held is published again until a worker runs it.


def _enqueue_refresh(retailer_id: int) -> TaskOutbox:
    with transaction.atomic():
        refresh.retailer_refresh_enqueue(retailer_id=retailer_id)
    return TaskOutbox.objects.get(task_name=REFRESH_TASK)


def _queued_task_ids(url: str) -> list[str]:
    messages = redis.Redis.from_url(url).lrange("recommendations", 0, -1)
    return [re.search(rb'"id": "([^"]+)"', message).group(1).decode() for message in messages]


def _deliver_until_completed(entry: TaskOutbox, worker, *, timeout: float = 60) -> TaskOutbox:
    """Run the periodic delivery (as beat would, here more often) until a worker completed the row."""
    deadline = time.monotonic() + timeout
    while True:
        outbox.task_outbox_deliver_pending()
        entry.refresh_from_db()
        if entry.completed_at is not None:
            return entry
        assert time.monotonic() < deadline, f"not completed: {entry.__dict__}\n{worker.log()}"
        time.sleep(0.3)


def _runs_of(entry: TaskOutbox, worker) -> int:
    return len(
        re.findall(rf"{re.escape(REFRESH_TASK)}\[{re.escape(entry.celery_task_id)}\] succeeded", worker.log())
    )


@contextmanager
def _table_locked(table: str) -> Iterator[psycopg.Connection]:
    """Holds an exclusive lock from a session of its own: a task that reads `table` waits on it."""
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"]
    ) as locker:
        locker.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        yield locker
        locker.rollback()


def _backend_waiting_on_a_lock(locker: psycopg.Connection) -> int | None:
    # The locker's transaction would see one snapshot of the statistics views: take a fresh one each time.
    locker.execute("SELECT pg_stat_clear_snapshot()")
    row = locker.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        " AND pid <> pg_backend_pid()"
    ).fetchone()
    return row[0] if row else None


def _wait_until(condition: Callable[[], object], worker, *, what: str, timeout: float = 30) -> object:
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{worker.log()}"
        time.sleep(0.1)
    return result


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_task_published_to_a_redis_then_restarted_empty_is_published_again_and_run(
    worker_on_own_redis: RedisServer, celery_worker, settings, celery_broker
) -> None:
    settings.OUTBOX_REDELIVER_SECONDS = 1
    start_worker = celery_worker
    broker = app.conf.broker_url
    entry = _enqueue_refresh(RetailerFactory().pk)
    assert entry.publishes == 1 and entry.completed_at is None
    assert _queued_task_ids(broker) == [entry.celery_task_id]

    # A Redis without persistence restarted before any worker took the message: it is gone.
    worker_on_own_redis.restart()
    celery_broker(broker)  # a fresh connection pool to the new server
    assert _queued_task_ids(broker) == []
    worker = start_worker()

    entry = _deliver_until_completed(entry, worker)

    assert entry.publishes == 2, "published again with the same task id, once"
    assert entry.task_error == ""
    _wait_until(lambda: _runs_of(entry, worker) == 1, worker, what="the worker's success line")
    assert outbox.task_outbox_deliver_pending() == 0, "a completed row is never published again"


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_task_is_completed_when_it_succeeds_and_not_when_it_is_retried(
    worker_on_own_redis: RedisServer, celery_worker
) -> None:
    worker = celery_worker()
    with _table_locked("recommendations_modelversion") as locker:
        entry = _enqueue_refresh(RetailerFactory().pk)
        first = _wait_until(lambda: _backend_waiting_on_a_lock(locker), worker, what="the refresh to run")
        # Its database connection is cut mid-query: an OperationalError, which the refresh retries.
        locker.execute("SELECT pg_terminate_backend(%s)", [first])
        _wait_until(lambda: "Retry in" in worker.log(), worker, what="the retry")
        retried = _wait_until(
            lambda: (pid := _backend_waiting_on_a_lock(locker)) not in (None, first) and pid,
            worker,
            what="the retried refresh to run",
        )
        assert retried != first
        entry.refresh_from_db()
        assert entry.completed_at is None, "a retrying task is not done"
    entry = _wait_until(
        lambda: TaskOutbox.objects.filter(pk=entry.pk, completed_at__isnull=False).first(),
        worker,
        what="the completion",
    )
    assert entry.task_error == ""
    assert entry.publishes == 1, "a retry is Celery's own message, not a redelivery"


@pytest.mark.django_db(transaction=True)
def test_a_task_that_fails_for_good_is_completed_with_its_error() -> None:
    entry = TaskOutbox.objects.create(task_name=REFRESH_TASK, args=[1, 2], celery_task_id="bad-arguments")

    # The real task and Celery's tracer, in this process: a TypeError is not retried.
    app.tasks[REFRESH_TASK].apply(args=entry.args, task_id=entry.celery_task_id, throw=False)

    entry.refresh_from_db()
    assert entry.completed_at is not None
    assert entry.task_error.startswith("TypeError:")
    assert entry.state == TaskOutbox.State.FAILED


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_task_held_by_a_worker_killed_mid_run_is_published_again_after_the_delay_and_completed(
    worker_on_own_redis: RedisServer, celery_worker, settings
) -> None:
    settings.OUTBOX_REDELIVER_SECONDS = 2
    start_worker = celery_worker
    worker = start_worker()
    broker = redis.Redis.from_url(app.conf.broker_url)
    with _table_locked("recommendations_modelversion") as locker:
        entry = _enqueue_refresh(RetailerFactory().pk)
        _wait_until(lambda: _backend_waiting_on_a_lock(locker), worker, what="the refresh to run")
        worker.kill()
    # acks_late: the killed worker's message stays unacknowledged; Redis would hand it out again only after
    # kombu's visibility timeout (an hour).
    assert broker.hlen("unacked") == 1
    entry.refresh_from_db()
    assert entry.completed_at is None and entry.publishes == 1
    second = start_worker()

    entry = _deliver_until_completed(entry, second)

    assert entry.publishes == 2
    assert (entry.delivered_at - entry.created_at) >= timedelta(seconds=2), "not before the delay"
    assert _runs_of(entry, second) == 1


@pytest.mark.django_db(transaction=True)
def test_an_uncompleted_task_is_published_again_after_a_doubling_delay_and_given_up_after_the_cap(
    own_redis: RedisServer, celery_broker, settings
) -> None:
    settings.OUTBOX_REDELIVER_SECONDS = 1
    celery_broker(own_redis.url())
    entry = _enqueue_refresh(7)

    assert outbox.task_outbox_deliver_pending() == 0, "not before its delay"
    time.sleep(1.1)
    assert outbox.task_outbox_deliver_pending() == 1
    entry.refresh_from_db()
    assert entry.publishes == 2
    assert entry.redeliver_at - entry.delivered_at == timedelta(seconds=2)
    assert _queued_task_ids(own_redis.url()) == [entry.celery_task_id] * 2

    # Published the maximum number of times, the last delay passed and still no worker ran it.
    TaskOutbox.objects.filter(pk=entry.pk).update(
        publishes=outbox.OUTBOX_MAX_PUBLISHES, redeliver_at=timezone.now() - timedelta(seconds=1)
    )
    assert outbox.task_outbox_deliver_pending() == 0
    entry.refresh_from_db()
    assert entry.state == TaskOutbox.State.GIVEN_UP
    assert entry.gave_up_at is not None and "Given up" in entry.last_error
    assert len(_queued_task_ids(own_redis.url())) == 2
    assert outbox.task_outbox_prune(older_than=timedelta(0)) == 0, "a given-up row stays for staff to see"

    # Should a copy still run after all, the run is recorded.
    assert outbox.task_outbox_complete(celery_task_id=entry.celery_task_id)
    entry.refresh_from_db()
    assert entry.state == TaskOutbox.State.SUCCEEDED


def test_a_retrain_is_published_again_only_after_its_hard_time_limit(settings) -> None:
    settings.OUTBOX_REDELIVER_SECONDS = 600
    retrain_delay = outbox._redeliver_delay(task_name="recommendations.tasks.retrain", publishes=1)
    refresh_delay = outbox._redeliver_delay(task_name=REFRESH_TASK, publishes=1)

    assert retrain_delay > timedelta(seconds=app.tasks["recommendations.tasks.retrain"].time_limit)
    assert refresh_delay == timedelta(seconds=600)
    assert refresh_delay > timedelta(seconds=app.tasks[REFRESH_TASK].time_limit)


# --- Item 8: one line per request with its id; expected 403/404 as one line; 500 keeps its traceback.


def _failing_view(request: HttpRequest) -> None:
    raise RuntimeError("boom")


def _forbidden_view(request: HttpRequest) -> None:
    raise PermissionDenied


# The portal's own routes too: the error pages link to them.
urlpatterns = [
    path("boom/", _failing_view),
    path("forbidden/", _forbidden_view),
    path("", include("smartbasket.urls")),
]


def _request_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "smartbasket.request"]


@pytest.mark.django_db
def test_each_request_is_logged_on_one_line_with_its_id_returned_in_a_header(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    user = UserFactory()
    client.force_login(user)
    caplog.set_level(logging.INFO, logger="smartbasket.request")

    response = client.get(reverse("orders:basket"), HTTP_X_REQUEST_ID="abc-123")

    assert response["X-Request-ID"] == "abc-123"
    (line,) = _request_lines(caplog)
    assert re.fullmatch(
        rf"method=GET path=/basket/ status=200 duration_ms=\d+\.\d user={user.pk} request_id=abc-123",
        line.getMessage(),
    )


@pytest.mark.django_db
def test_a_missing_or_unsafe_request_id_is_replaced_by_a_new_one(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="smartbasket.request")

    first = client.get(reverse("accounts:login"))
    second = client.get(reverse("accounts:login"), HTTP_X_REQUEST_ID="bad id\nforged=1")

    ids = [first["X-Request-ID"], second["X-Request-ID"]]
    assert all(re.fullmatch(r"[0-9a-f]{32}", request_id) for request_id in ids)
    assert ids[0] != ids[1]
    assert [line.getMessage().rsplit("request_id=", 1)[1] for line in _request_lines(caplog)] == ids
    assert "user=-" in _request_lines(caplog)[0].getMessage()


def _django_request_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "django.request"]


@pytest.mark.django_db
@pytest.mark.urls("recommendations.tests.test_outbox")
@pytest.mark.parametrize(("url", "status"), [("/forbidden/", 403), ("/no-such-page/", 404)])
def test_an_expected_client_error_is_logged_as_one_line_without_a_traceback(
    url: str, status: int, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    response = client.get(url)

    assert response.status_code == status
    (record,) = _django_request_records(caplog)
    assert record.levelno == logging.WARNING
    assert record.exc_info is None
    assert "Traceback" not in caplog.text


@pytest.mark.django_db
def test_a_forbidden_portal_page_is_logged_as_one_line(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    client.force_login(UserFactory(vendor_member=True))

    response = client.get(reverse("orders:basket"))

    assert response.status_code == 403
    (record,) = _django_request_records(caplog)
    assert record.exc_info is None
    assert "Traceback" not in caplog.text


@pytest.mark.django_db
@pytest.mark.urls("recommendations.tests.test_outbox")
def test_a_server_error_keeps_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    response = Client(raise_request_exception=False).get("/boom/")

    assert response.status_code == 500
    (record,) = _django_request_records(caplog)
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError


@pytest.mark.django_db
def test_staff_see_outbox_rows_by_state_read_only_in_the_admin(client: Client) -> None:
    now = timezone.now()
    TaskOutbox.objects.create(
        task_name=REFRESH_TASK, args=[7], celery_task_id="waiting", attempts=2, last_error="Timeout reading"
    )
    TaskOutbox.objects.create(task_name=REFRESH_TASK, args=[8], celery_task_id="sent", delivered_at=now)
    TaskOutbox.objects.create(
        task_name=REFRESH_TASK, args=[9], celery_task_id="done", delivered_at=now, completed_at=now
    )
    TaskOutbox.objects.create(
        task_name=REFRESH_TASK,
        args=[10],
        celery_task_id="broken",
        delivered_at=now,
        completed_at=now,
        task_error="ValueError: no such retailer",
    )
    TaskOutbox.objects.create(
        task_name=REFRESH_TASK,
        args=[11],
        celery_task_id="abandoned",
        delivered_at=now,
        publishes=outbox.OUTBOX_MAX_PUBLISHES,
        gave_up_at=now,
        last_error="Given up: published 10 times and no worker completed it.",
    )
    client.force_login(UserFactory(staff_member=True))
    changelist = reverse("admin:recommendations_taskoutbox_changelist")

    def listed(state: str) -> str:
        return client.get(changelist, {"state": state}).content.decode()

    every_args = {"[7]", "[8]", "[9]", "[10]", "[11]"}
    for state, shown, text in [
        ("pending", "[7]", "Timeout reading"),
        ("published", "[8]", "Published, not run yet"),
        ("succeeded", "[9]", "Completed"),
        ("failed", "[10]", "ValueError: no such retailer"),
        ("given_up", "[11]", "Given up: published 10 times"),
    ]:
        page = listed(state)
        assert shown in page and text in page, state
        assert not any(f'<td class="field-args">{other}</td>' in page for other in every_args - {shown}), (
            state
        )
    assert client.get(reverse("admin:recommendations_taskoutbox_add")).status_code == 403
    entry = TaskOutbox.objects.get(celery_task_id="waiting")
    page = client.get(reverse("admin:recommendations_taskoutbox_change", args=[entry.pk])).content.decode()
    assert 'name="_save"' not in page
