"""The task outbox: enqueueing that never blocks or breaks the caller's request when Redis or the worker is
down or hung, and never loses the task.

A task is written to the TaskOutbox in the caller's transaction, so it commits with the order (or training
run) or not at all, and is published after commit. A publish that fails or hits the broker's socket timeout
(settings: about a second) leaves the row pending; the periodic `deliver_outbox` task publishes it later.
A row is done only once a worker has run the task (smartbasket/celery.py records it by task id): a published
row still not completed after its redelivery delay is published again with the same task id, because Redis
may have lost the message (restarted without persistence) or a killed worker may hold it unacknowledged
(Redis hands it out again only after kombu's visibility timeout, an hour). Tasks queued here are idempotent,
so the duplicate a slow worker can cause is harmless: at least once is the guarantee.
"""

import logging
import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from recommendations.models import TaskOutbox
from smartbasket.request_log import current_request_id

logger = logging.getLogger(__name__)

# Longer than any publish can take (socket timeouts), so a lease only expires on a deliverer that died.
OUTBOX_LEASE = timedelta(minutes=2)
OUTBOX_BATCH = 500
OUTBOX_RETENTION = timedelta(days=7)
# A row published this many times without completing is given up (shown as such in the admin): something
# other than a lost message stops it, and publishing it forever would hide that.
OUTBOX_MAX_PUBLISHES = 10
# The redelivery delay doubles at each publish (a worker down for hours is not sent ten copies of its backlog
# in ten delays); this bounds one delay.
OUTBOX_MAX_REDELIVER_DELAY = timedelta(hours=12)
# After a failed publish, this process stops trying that broker at commit time for a while: during an outage
# every request would otherwise wait for the socket timeout; the periodic delivery catches up.
PUBLISH_PAUSE_SECONDS = 15.0
_publish_paused_until: dict[str, float] = {}


def tasks_run_in_process() -> bool:
    from smartbasket.celery import app

    return bool(app.conf.task_always_eager)


def _run_in_process(task_name: str, args: Sequence[Any]) -> None:
    """The embedded demo (no REDIS_URL): the task runs right after commit, in this process."""
    from smartbasket.celery import app

    # A worker imports every app's tasks module at start-up; a web process or a command (`retrain` queueing
    # the vendors' forecasts) does not, and without this the name is unknown here (NotRegistered) and the
    # task is lost. Modules already imported are not re-run.
    if task_name not in app.tasks:
        app.loader.import_default_modules()
    try:
        app.tasks[task_name].apply(args=list(args), throw=True)
    except Exception:
        logger.exception("%s%s failed in-process; the active rows keep serving", task_name, tuple(args))


@transaction.atomic
def task_outbox_add(*, task_name: str, args: Sequence[Any] = ()) -> TaskOutbox | None:
    """Queue `task_name(*args)` with the caller's transaction: recorded now, published once it commits.

    Returns the outbox row, or None in the embedded demo where tasks run in-process after commit.
    """
    if tasks_run_in_process():
        transaction.on_commit(lambda: _run_in_process(task_name, args))
        return None
    entry = TaskOutbox.objects.create(
        task_name=task_name,
        args=list(args),
        request_id=current_request_id(),
        celery_task_id=str(uuid.uuid4()),
    )
    # robust: a failure here must not turn the committed request into an error page.
    transaction.on_commit(lambda: _task_outbox_deliver_after_commit(entry_id=entry.pk), robust=True)
    return entry


def _task_outbox_deliver_after_commit(*, entry_id: int) -> None:
    from smartbasket.celery import app

    if time.monotonic() < _publish_paused_until.get(app.conf.broker_url, 0.0):
        logger.info("Outbox #%s left for the periodic delivery: the broker failed moments ago", entry_id)
        return
    entry = _task_outbox_claim(entry_id=entry_id)
    if entry is not None:
        _task_outbox_publish(entry)


def _open() -> models.Q:
    return models.Q(completed_at__isnull=True, gave_up_at__isnull=True)


def _claimable(now: datetime) -> models.Q:
    """Open, due (never published, or its redelivery delay passed) and not leased by another deliverer."""
    due = models.Q(delivered_at__isnull=True) | models.Q(
        redeliver_at__lt=now, publishes__lt=OUTBOX_MAX_PUBLISHES
    )
    return _open() & due & (models.Q(claimed_until__isnull=True) | models.Q(claimed_until__lt=now))


def _task_outbox_claim(*, entry_id: int) -> TaskOutbox | None:
    """Lease one due row by a conditional update: of two deliverers racing for it, one wins."""
    now = timezone.now()
    claimed = TaskOutbox.objects.filter(_claimable(now), pk=entry_id).update(
        claimed_until=now + OUTBOX_LEASE, attempts=models.F("attempts") + 1, last_attempt_at=now
    )
    return TaskOutbox.objects.filter(pk=entry_id).first() if claimed else None


def _redeliver_delay(*, task_name: str, publishes: int) -> timedelta:
    """How long a task published for the `publishes`-th time may take before it is published again.

    A task may declare `outbox_redeliver_after` (seconds) longer than the setting: a retrain runs for up to 55
    minutes, and republishing it while it runs would only be refused by its claim (recommendations/tasks.py).
    """
    from smartbasket.celery import app

    task = app.tasks.get(task_name)
    base = max(settings.OUTBOX_REDELIVER_SECONDS, getattr(task, "outbox_redeliver_after", 0))
    return min(timedelta(seconds=base * 2 ** (publishes - 1)), OUTBOX_MAX_REDELIVER_DELAY)


def _task_outbox_publish(entry: TaskOutbox) -> bool:
    """Publish a claimed row; on failure log one line, keep the row due and release its lease."""
    from smartbasket.celery import app

    try:
        # retry=False: the broker's socket and connect timeouts bound the wait; no publish retry loop.
        app.send_task(
            entry.task_name,
            args=entry.args,
            kwargs=entry.kwargs,
            task_id=entry.celery_task_id,
            headers={"request_id": entry.request_id},
            retry=False,
        )
    except Exception as exc:
        _publish_paused_until[app.conf.broker_url] = time.monotonic() + PUBLISH_PAUSE_SECONDS
        error = f"{type(exc).__name__}: {exc}"
        logger.warning(
            "Could not publish %s%s (outbox #%s, attempt %s): %s; it stays pending for the periodic delivery",
            entry.task_name,
            tuple(entry.args),
            entry.pk,
            entry.attempts,
            error,
        )
        TaskOutbox.objects.filter(pk=entry.pk).update(claimed_until=None, last_error=error[:2000])
        return False
    _publish_paused_until.pop(app.conf.broker_url, None)
    if entry.publishes:
        logger.info(
            "Published %s%s again (outbox #%s, task %s, publish %s): no worker completed it in time",
            entry.task_name,
            tuple(entry.args),
            entry.pk,
            entry.celery_task_id,
            entry.publishes + 1,
        )
    now = timezone.now()
    TaskOutbox.objects.filter(pk=entry.pk).update(
        delivered_at=now,
        publishes=models.F("publishes") + 1,
        redeliver_at=now + _redeliver_delay(task_name=entry.task_name, publishes=entry.publishes + 1),
        claimed_until=None,
    )
    return True


def _task_outbox_give_up() -> int:
    """Close rows published the maximum number of times whose last delay passed without a completion."""
    now = timezone.now()
    stale = TaskOutbox.objects.filter(_open(), publishes__gte=OUTBOX_MAX_PUBLISHES, redeliver_at__lt=now)
    given_up = stale.update(
        gave_up_at=now,
        claimed_until=None,
        last_error=(
            f"Given up: published {OUTBOX_MAX_PUBLISHES} times and no worker completed it. "
            "Check the worker logs for this task id."
        ),
    )
    if given_up:
        logger.error(
            "Gave up %s outbox rows published %s times without completing", given_up, OUTBOX_MAX_PUBLISHES
        )
    return given_up


def task_outbox_deliver_pending(*, limit: int = OUTBOX_BATCH) -> int:
    """Publish due rows, oldest first; stop at the first failure (the broker is still unreachable)."""
    _task_outbox_give_up()
    now = timezone.now()
    due = TaskOutbox.objects.filter(_claimable(now)).order_by("created_at", "id").values_list("pk", flat=True)
    delivered = 0
    for entry_id in list(due[:limit]):
        entry = _task_outbox_claim(entry_id=entry_id)
        if entry is None:
            continue
        if not _task_outbox_publish(entry):
            break
        delivered += 1
    return delivered


def task_outbox_complete(*, celery_task_id: str, error: str = "") -> bool:
    """A worker finished this task: succeeded (`error` empty) or failed for good after its retries.

    A conditional update by task id, so any task may report (most have no outbox row), a duplicate's second
    completion changes nothing, and a row given up but finally run is recorded as completed.
    """
    return bool(
        TaskOutbox.objects.filter(celery_task_id=celery_task_id, completed_at__isnull=True).update(
            completed_at=timezone.now(), task_error=error[:2000], claimed_until=None
        )
    )


def task_outbox_prune(*, older_than: timedelta = OUTBOX_RETENTION) -> int:
    """Delete rows completed more than `older_than` ago; open and given-up rows are never pruned."""
    deleted, _ = TaskOutbox.objects.filter(completed_at__lt=timezone.now() - older_than).delete()
    return deleted
