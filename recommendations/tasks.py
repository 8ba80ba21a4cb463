"""Thin Celery tasks: each takes ids and calls one service."""

from celery import shared_task
from django.db import OperationalError

from recommendations import feedback, outbox, precompute, predictions, refresh, training, training_runs
from recommendations.models import TrainingRun

# Training Online Retail takes minutes; the limits stop a stuck run well before the nightly one is due again.
RETRAIN_SOFT_LIMIT = 50 * 60
RETRAIN_HARD_LIMIT = 55 * 60


# No automatic retry: a failed run is recorded with its error, and a retry would repeat minutes of training
# on the same data; the next scheduled or manual run starts afresh.
# The task outbox publishes a retrain again only when no worker completed it within its hard limit and 5
# minutes (a per-task redelivery delay, not the shorter general one): before that it may still be running.
# A copy that arrives anyway is harmless: its claim refuses a run that is no longer pending, and
# training_run_refuse only touches pending runs.
@shared_task(
    bind=True,
    soft_time_limit=RETRAIN_SOFT_LIMIT,
    time_limit=RETRAIN_HARD_LIMIT,
    max_retries=0,
    outbox_redeliver_after=RETRAIN_HARD_LIMIT + 5 * 60,
)
def retrain(self, run_id: int) -> int | None:
    try:
        run = training.training_run_execute(run_id=run_id, celery_task_id=self.request.id or "")
    except training_runs.RetrainRefused as refusal:
        training_runs.training_run_refuse(run_id=run_id, reason=str(refusal))
        return None
    return run.model_version_id


# A shard is a few thousand retailers (seconds to a minute). No retry here: the precompute that queued it
# writes a shard that failed or whose worker died itself, and gives up after MAX_SHARD_FAILURES.
@shared_task(soft_time_limit=10 * 60, time_limit=11 * 60, max_retries=0)
def precompute_shard(shard_id: int) -> int | None:
    return precompute.precompute_shard_write(shard_id=shard_id)


@shared_task(
    soft_time_limit=RETRAIN_SOFT_LIMIT,
    time_limit=RETRAIN_HARD_LIMIT,
    max_retries=0,
    outbox_redeliver_after=RETRAIN_HARD_LIMIT + 5 * 60,
)
def precompute_complete(version_id: int) -> int:
    return training.model_version_precompute_complete(version_id=version_id).pk


@shared_task(soft_time_limit=30, time_limit=60)
def retrain_scheduled() -> int:
    return training_runs.retrain_enqueue(trigger=TrainingRun.Trigger.SCHEDULE).pk


# A refresh is cheap and idempotent, so a database hiccup is retried with backoff.
@shared_task(
    autoretry_for=(OperationalError,), retry_backoff=2, max_retries=3, soft_time_limit=60, time_limit=90
)
def refresh_retailer(retailer_id: int) -> dict[str, int]:
    return refresh.retailer_refresh(retailer_id=retailer_id)


@shared_task(soft_time_limit=50 * 60, time_limit=55 * 60)
def refresh_recent_retailers(hours: int = 2) -> list[int]:
    return refresh.retailers_refresh_recent(hours=hours)


# Beat runs this every 30 s (migration 0003): it publishes what a request could not (Redis down or hung),
# publishes again what no worker completed within its redelivery delay, gives up rows published too often and
# prunes completed ones. Rows are claimed by conditional update, so overlapping runs never send one twice.
@shared_task(soft_time_limit=120, time_limit=150)
def deliver_outbox() -> dict[str, int]:
    return {"delivered": outbox.task_outbox_deliver_pending(), "pruned": outbox.task_outbox_prune()}


FLUSH_MAX_BATCHES = 40


# Beat runs this every 10 s (migration 0006): it writes the events and predictions the API buffered in Redis.
# Each queue has one flusher at a time (a Redis lock) and a batch leaves Redis only after its commit, so an
# overlapping or repeated run is harmless; a run that finds a queue busy leaves it to the running one.
@shared_task(soft_time_limit=50, time_limit=60)
def flush_feedback() -> dict[str, int | None]:
    return {
        "events": feedback.feedback_flush(max_batches=FLUSH_MAX_BATCHES),
        "predictions": predictions.predictions_flush(max_batches=FLUSH_MAX_BATCHES),
    }
