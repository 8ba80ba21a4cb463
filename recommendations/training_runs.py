"""Training runs: their records, how they are queued or started, the lock one run holds, and the clean-up of
runs a dead worker left behind. The pipeline a run executes is training.py.
"""

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone

from recommendations.models import ModelVersion, TrainingRun
from recommendations.outbox import task_outbox_add, tasks_run_in_process
from recommendations.publish import failed_version_discard

logger = logging.getLogger(__name__)

# Session-level PostgreSQL advisory lock key held for the whole retrain ("SBRT" in ASCII).
RETRAIN_LOCK_KEY = 0x53425254


class RetrainRefused(Exception):
    """The run cannot start (another retrain holds the lock, or the run is not pending)."""


@transaction.atomic
def training_run_create(*, trigger: str, parameters: dict[str, Any] | None = None) -> TrainingRun:
    return TrainingRun.objects.create(trigger=trigger, parameters=parameters or {})


@transaction.atomic
def retrain_enqueue(*, trigger: str, parameters: dict[str, Any] | None = None) -> TrainingRun:
    """A pending run and its task, committed together: if Redis is unreachable the run stays pending until
    the periodic delivery publishes it (nothing is lost, nothing is marked failed for a broker outage).

    With no broker (the embedded default runs tasks in-process) the run goes to a process of its own once
    committed: minutes of training must never run inside the request or process that asked for it.
    """
    run = training_run_create(trigger=trigger, parameters=parameters)
    if tasks_run_in_process():
        transaction.on_commit(lambda: training_run_spawn(run_id=run.pk))
        return run
    entry = task_outbox_add(task_name="recommendations.tasks.retrain", args=[run.pk])
    if entry is not None:
        run.celery_task_id = entry.celery_task_id
        run.save(update_fields=["celery_task_id"])
    return run


def training_run_log_path(*, run_id: int) -> Path:
    return Path(settings.ARTIFACTS_DIR) / "runs" / f"{run_id}.log"


def training_run_spawn(*, run_id: int) -> subprocess.Popen | None:
    """Start `manage.py retrain --run <id>` detached (its own session, output to a log file) and return at
    once; the run records its progress and result in the database. A start that fails fails the run."""
    log_path = training_run_log_path(run_id=run_id)
    try:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as output:
            return subprocess.Popen(
                [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "retrain", "--run", str(run_id)],
                cwd=settings.BASE_DIR,
                env=os.environ.copy(),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
    except OSError as exc:
        logger.exception("could not start training run %s", run_id)
        TrainingRun.objects.filter(pk=run_id, status=TrainingRun.Status.PENDING).update(
            status=TrainingRun.Status.FAILED,
            error=f"Not started: the training process could not be launched ({exc}).",
            finished_at=timezone.now(),
        )
        return None


@transaction.atomic
def training_run_progress_record(*, run_id: int, stage: str, step: int, steps: int) -> None:
    """Record that run `run_id` is at `step` of `steps` in `stage`.

    Called between the pipeline's own transactions, each call commits at once, so the admin (another
    connection) sees it while the run works. Anything that runs a training run (the pipeline, a demo start-up
    script) may call it.
    """
    if steps < 1 or not 0 <= step <= steps:
        raise ValueError(f"step {step} of {steps} is not a progress")
    TrainingRun.objects.filter(pk=run_id).update(
        stage=stage[:80], stage_step=step, stage_steps=steps, progress_at=timezone.now()
    )


# --- The retrain lock.


def _is_postgres() -> bool:
    return connection.vendor == "postgresql"


def _abandoned_runs() -> models.QuerySet[TrainingRun]:
    running = TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING)
    if _is_postgres():
        # We hold the advisory lock, so whoever marked these running lost its database session: it died.
        return running
    # SQLite (embedded demo) has no session locks: a run older than the hard task time limit cannot be alive.
    return running.filter(started_at__lt=timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT))


@contextmanager
def retrain_lock() -> Iterator[None]:
    """A PostgreSQL session lock: released by the server itself if the worker is killed mid-run."""
    if not _is_postgres():
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [RETRAIN_LOCK_KEY])
        (acquired,) = cursor.fetchone()
    if not acquired:
        raise RetrainRefused("another retrain is running")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [RETRAIN_LOCK_KEY])


def _runs_abandon(runs: models.QuerySet[TrainingRun]) -> int:
    """Mark `runs` failed with their versions still in training, and drop every failed version's rows."""
    now = timezone.now()
    abandoned = list(runs)
    for run in abandoned:
        TrainingRun.objects.filter(pk=run.pk).update(
            status=TrainingRun.Status.FAILED,
            finished_at=now,
            error="The worker stopped before the run finished (killed or lost); a later run replaced it.",
        )
        if run.model_version_id:
            ModelVersion.objects.filter(pk=run.model_version_id, status=ModelVersion.Status.TRAINING).update(
                status=ModelVersion.Status.FAILED, error="Its worker stopped during training or precompute."
            )
    for version in ModelVersion.objects.filter(status=ModelVersion.Status.FAILED, pruned_at__isnull=True):
        failed_version_discard(version=version)
    return len(abandoned)


def training_runs_abandoned_fail() -> int:
    """Runs and versions left behind by a killed worker: mark them failed and drop their partial rows."""
    return _runs_abandon(_abandoned_runs())


@transaction.atomic
def training_runs_orphaned_fail() -> int:
    """Called by `make demo` on the embedded default before it starts its training process: on SQLite
    nothing trains but that process, so a run still marked running was left by a demo stopped mid-training.
    Without this, the new run would be refused ("another retrain is running") until the old one timed out.
    PostgreSQL needs no such call: a dead run's session lock is gone, which `training_runs_abandoned_fail`
    sees."""
    if _is_postgres():
        return 0
    return _runs_abandon(TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING))


def training_run_claim(*, run_id: int, celery_task_id: str) -> TrainingRun:
    """pending -> running by conditional update; the partial unique index refuses a second running run."""
    try:
        with transaction.atomic():
            claimed = TrainingRun.objects.filter(pk=run_id, status=TrainingRun.Status.PENDING).update(
                status=TrainingRun.Status.RUNNING, started_at=timezone.now(), celery_task_id=celery_task_id
            )
    except IntegrityError:
        raise RetrainRefused("another retrain is running") from None
    if not claimed:
        raise RetrainRefused("the run is not pending (already started, finished or failed)")
    return TrainingRun.objects.get(pk=run_id)


def training_run_refuse(*, run_id: int, reason: str) -> None:
    """A run that may not start is closed with the reason, so staff see why nothing happened."""
    TrainingRun.objects.filter(pk=run_id, status=TrainingRun.Status.PENDING).update(
        status=TrainingRun.Status.FAILED, error=f"Not started: {reason}.", finished_at=timezone.now()
    )


def training_runs_active_for(*, version: ModelVersion) -> bool:
    """Whether a run building `version` is still pending or running."""
    return TrainingRun.objects.filter(
        model_version=version, status__in=[TrainingRun.Status.PENDING, TrainingRun.Status.RUNNING]
    ).exists()


def training_run_fail(
    *, run: TrainingRun, version: ModelVersion | None, error: str, keep_version: bool = False
) -> None:
    """The run failed. Its version, if still being built, fails and is cleared, unless `keep_version`: a
    precompute stopped by a failing shard keeps its version in training with the shards written, to be
    completed (training.model_version_precompute_complete)."""
    now = timezone.now()
    TrainingRun.objects.filter(pk=run.pk).update(
        status=TrainingRun.Status.FAILED,
        error=error,
        finished_at=now,
        duration=(now - run.started_at).total_seconds() if run.started_at else None,
    )
    if keep_version and version is not None:
        ModelVersion.objects.filter(pk=version.pk, status=ModelVersion.Status.TRAINING).update(error=error)
        return
    # Only a version still being built is failed and cleared; one already published keeps serving.
    if version is not None and ModelVersion.objects.filter(
        pk=version.pk, status=ModelVersion.Status.TRAINING
    ).update(status=ModelVersion.Status.FAILED, error=error):
        failed_version_discard(version=version)
