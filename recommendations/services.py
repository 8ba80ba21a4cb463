"""The recommendation pipeline: retrain, evaluate, precompute, publish, refresh.

Workers write every row of a new ModelVersion beside the active one and flip the pointer in one transaction,
so readers (selectors.py) never see a half-written version. The ML core is imported inside functions only:
this module is imported by the web process (orders.services calls retailer_refresh_enqueue), which must never
load TensorFlow.
"""

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone

from accounts.models import Retailer
from catalog.models import Product
from orders.models import Order
from recommendations import documents, explanations, reporting
from recommendations.models import (
    ItemVector,
    ModelVersion,
    ProductAssociation,
    Recommendation,
    RecommendationDocument,
    ReorderPrediction,
    SimilarProduct,
    Surface,
    TrainingRun,
)
from recommendations.outbox import task_outbox_add, tasks_run_in_process
from vendors.services import vendors_refresh_all

logger = logging.getLogger(__name__)

FOR_YOU_COUNT = 20
NEW_FOR_YOU_COUNT = 20
# `evaluate` measures the layout with ml.sections.DUE_COUNT due rows: the same number (a test says so).
DUE_COUNT = 30
ASSOCIATIONS_PER_PRODUCT = 20
ASSOCIATION_MIN_TOGETHER = 3
SIMILAR_PER_PRODUCT = 20
RETAILER_BATCH = 500
# Non-active versions whose rows are kept for an instant rollback; older ones are pruned.
RETAINED_VERSIONS = 2
# The champion/challenger comparison metric (protocol A, next basket) and the smallest fair holdout.
PROMOTION_METRIC = "ndcg@10"
MIN_COMPARABLE_RETAILERS = 10
# Session-level PostgreSQL advisory lock key held for the whole retrain ("SBRT" in ASCII).
RETRAIN_LOCK_KEY = 0x53425254

ROW_MODELS: tuple[type[models.Model], ...] = (
    # First: documents are built from the rows below, and go with them.
    RecommendationDocument,
    Recommendation,
    ReorderPrediction,
    ProductAssociation,
    SimilarProduct,
    ItemVector,
)

Progress = Callable[[str], None]
# (stage, step, steps): a stage's progress as the pipeline reports it to a console.
StageProgress = Callable[[str, int, int], None]


class RetrainRefused(Exception):
    """The run cannot start (another retrain holds the lock, or the run is not pending)."""


def retailer_refresh_enqueue(*, retailer_id: int) -> None:
    """With the caller's transaction, queue a refresh of this retailer's rows (called on order placement)."""
    task_outbox_add(task_name="recommendations.tasks.refresh_retailer", args=[retailer_id])


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
def _retrain_lock() -> Iterator[None]:
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
        _failed_version_discard(version=version)
    return len(abandoned)


def _abandon_dead_work() -> None:
    """Runs and versions left behind by a killed worker: mark them failed and drop their partial rows."""
    _runs_abandon(_abandoned_runs())


@transaction.atomic
def training_runs_orphaned_fail() -> int:
    """Called by `make demo` on the embedded default before it starts its training process: on SQLite
    nothing trains but that process, so a run still marked running was left by a demo stopped mid-training.
    Without this, the new run would be refused ("another retrain is running") until the old one timed out.
    PostgreSQL needs no such call: a dead run's session lock is gone, which `_abandon_dead_work` sees."""
    if _is_postgres():
        return 0
    return _runs_abandon(TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING))


def _training_run_claim(*, run_id: int, celery_task_id: str) -> TrainingRun:
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


class _RunLog:
    def __init__(self, run: TrainingRun, echo: Progress | None, on_progress: StageProgress | None) -> None:
        self.run = run
        self.echo = echo
        self.on_progress = on_progress
        self.started = time.monotonic()

    def progress(self, stage: str, step: int, steps: int) -> None:
        training_run_progress_record(run_id=self.run.pk, stage=stage, step=step, steps=steps)
        if self.on_progress:
            self.on_progress(stage, step, steps)

    def stage_reporter(self, stage: str) -> Callable[[int, int], None]:
        return lambda step, steps: self.progress(stage, step, steps)

    def __call__(self, message: str) -> None:
        line = f"[{time.monotonic() - self.started:7.1f}s] {message}"
        self.run.log += line + "\n"
        self.run.save(update_fields=["log"])
        # A command echoes to its own stdout; a worker has only its log.
        if self.echo:
            self.echo(line)
        else:
            logger.info("training run %s: %s", self.run.pk, message)


# --- Retrain: extract, train, evaluate, precompute, decide.


def _hybrid_class() -> Any:
    from recommendations.ml.hybrid import HybridRecommender

    return HybridRecommender


def _fit_hybrid(data: Any, hyper: dict[str, Any], progress: Callable[[int, int], None] | None = None) -> Any:
    return _hybrid_class()(**hyper).fit(data, progress=progress)


def _evaluate(model: Any, holdout: Any) -> dict[str, float]:
    from recommendations.ml.evaluation import completion_metrics, next_basket_metrics, ranked_lists

    if not len(holdout.retailers):
        return {}
    ranked = ranked_lists(model.score, model.product_ids, holdout.retailers, 20)
    metrics = next_basket_metrics(ranked, holdout, len(model.product_ids))
    return metrics | completion_metrics(model.score, model.product_ids, holdout)


def _calibration_errors(model: Any, holdout: Any) -> dict[str, float]:
    """Expected calibration error of the stored probabilities on the same held-out baskets."""
    from recommendations.ml.evaluation import calibration_metrics

    if not len(holdout.retailers):
        return {}
    calibration = calibration_metrics(model, holdout)
    return {f"ece_{surface}": table["ece"] for surface, table in calibration.items() if table["pairs"]}


def _holdout_after(holdout: Any, data: Any, cutoff: datetime) -> Any:
    """The part of the holdout made of orders placed after `cutoff`: baskets the champion has never seen."""
    from recommendations.ml.evaluation import Holdout

    orders = data.view.orders
    last = orders[orders["recency"] == 0].set_index("retailer")["ts"]
    naive_cutoff = np.datetime64(cutoff.astimezone(UTC).replace(tzinfo=None), "ns")
    keep = [i for i, r in enumerate(holdout.retailers) if last.get(r) is not None and last[r] > naive_cutoff]
    return Holdout(
        holdout.retailers[keep], [holdout.baskets[i] for i in keep], [holdout.history[i] for i in keep]
    )


def _champion_decision(
    *, challenger_metrics: dict[str, float], evaluation_model: Any, holdout: Any, data: Any
) -> tuple[bool, str, dict[str, Any]]:
    """Promote when the challenger is not worse than the active version on the same held-out baskets."""
    champion = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()
    if champion is None:
        return True, "No active version: the first trained version is promoted.", {}
    if not challenger_metrics:
        # The champion is still recorded: the admin shows which version this one was held against.
        return (
            False,
            "Not enough orders to evaluate the new version; the active version keeps serving.",
            {"champion": champion.pk, "basis": "not evaluated: not enough orders"},
        )
    comparable = _holdout_after(holdout, data, champion.data_cutoff) if champion.data_cutoff else holdout
    if len(comparable.retailers) >= MIN_COMPARABLE_RETAILERS:
        champion_model = model_version_load(version=champion)
        champion_score = _evaluate(champion_model, comparable).get(PROMOTION_METRIC, 0.0)
        challenger_score = _evaluate(evaluation_model, comparable).get(PROMOTION_METRIC, 0.0)
        basis = f"{len(comparable.retailers)} held-out baskets placed after v{champion.pk}'s data cutoff"
    else:
        # Every held-out basket was in the champion's training data; its own recorded holdout score is the
        # fairest comparison left.
        champion_score = float(champion.metrics.get("hybrid", {}).get(PROMOTION_METRIC, 0.0))
        challenger_score = challenger_metrics.get(PROMOTION_METRIC, 0.0)
        basis = f"each version's own holdout (v{champion.pk} saw all but {len(comparable.retailers)} baskets)"
    comparison = {
        "champion": champion.pk,
        "metric": PROMOTION_METRIC,
        "champion_score": round(champion_score, 6),
        "challenger_score": round(challenger_score, 6),
        "basis": basis,
    }
    verdict = (
        f"{PROMOTION_METRIC} {challenger_score:.4f} vs active v{champion.pk} {champion_score:.4f} on {basis}"
    )
    if round(challenger_score, 6) >= round(champion_score, 6):
        return True, f"Promoted: {verdict}.", comparison
    return False, f"Kept as candidate, worse than the active version: {verdict}.", comparison


def training_run_execute(
    *,
    run_id: int,
    celery_task_id: str = "",
    echo: Progress | None = None,
    on_progress: StageProgress | None = None,
) -> TrainingRun:
    """Run one pending TrainingRun to the end. Raises RetrainRefused when it may not start.

    `echo` receives the log lines and `on_progress` each stage's progress (a command draws them); the
    run records both in the database either way."""
    with _retrain_lock():
        with transaction.atomic():
            _abandon_dead_work()
            run = _training_run_claim(run_id=run_id, celery_task_id=celery_task_id)
        log = _RunLog(run, echo, on_progress)
        version: ModelVersion | None = None
        try:
            version = _train_evaluate_publish(run=run, log=log)
        except Exception as exc:
            logger.exception("training run %s failed", run.pk)
            _training_run_fail(
                run=run, version=version or run.model_version, error=f"{type(exc).__name__}: {exc}"
            )
            raise
        run.model_version = version
        run.status = TrainingRun.Status.SUCCEEDED
        run.finished_at = timezone.now()
        run.duration = (run.finished_at - run.started_at).total_seconds()
        run.save(update_fields=["status", "finished_at", "duration"])
        return run


def _training_run_fail(*, run: TrainingRun, version: ModelVersion | None, error: str) -> None:
    now = timezone.now()
    TrainingRun.objects.filter(pk=run.pk).update(
        status=TrainingRun.Status.FAILED,
        error=error,
        finished_at=now,
        duration=(now - run.started_at).total_seconds() if run.started_at else None,
    )
    # Only a version still being built is failed and cleared; one already published keeps serving.
    if version is not None and ModelVersion.objects.filter(
        pk=version.pk, status=ModelVersion.Status.TRAINING
    ).update(status=ModelVersion.Status.FAILED, error=error):
        _failed_version_discard(version=version)


def _parse_cutoff(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, UTC)


def _train_evaluate_publish(*, run: TrainingRun, log: _RunLog) -> ModelVersion:
    from recommendations.ml.evaluation import split_last_basket
    from recommendations.training_data import training_data_from_db

    hyper = dict(run.parameters.get("hybrid", {}))
    cutoff = _parse_cutoff(run.parameters.get("cutoff"))
    started = time.monotonic()
    log.progress("extract orders", 0, 1)
    data = training_data_from_db(cutoff=cutoff)
    interactions = data.interactions
    if interactions.empty:
        raise ValidationError("There are no placed orders to learn from.")
    trained_on = {
        "retailers": int(interactions["retailer"].nunique()),
        "products": int(interactions["product"].nunique()),
        "orders": int(interactions["order"].nunique()),
        "lines": len(interactions),
    }
    data_cutoff = timezone.make_aware(interactions["ts"].max().to_pydatetime(), UTC)
    log.progress("extract orders", 1, 1)
    log(f"Extracted {reporting.counts_text(trained_on)}")
    version = ModelVersion.objects.create(
        kind="hybrid", parameters={"hybrid": hyper}, data_cutoff=data_cutoff, trained_on=trained_on
    )
    TrainingRun.objects.filter(pk=run.pk).update(model_version=version)
    run.model_version = version

    # Evaluation model: fitted without each retailer's last basket, which is then scored (protocol A and B).
    train, holdout = split_last_basket(data)
    evaluation_model = _fit_hybrid(train, hyper, log.stage_reporter("fit for evaluation"))
    # The hybrid, then every member on the same holdout, so the admin shows what the blend adds over each.
    evaluated = {"hybrid": evaluation_model, **evaluation_model.models}
    metrics: dict[str, Any] = {}
    for step, (name, member) in enumerate(evaluated.items()):
        log.progress("evaluate", step, len(evaluated))
        metrics[name] = _evaluate(member, holdout)
    log.progress("evaluate", len(evaluated), len(evaluated))
    metrics["hybrid"] |= _calibration_errors(evaluation_model, holdout)
    metrics["blend"] = {
        "weights": evaluation_model.weights,
        "validation": evaluation_model.validation,
        "diversity_lambda": {
            surface: evaluation_model.mmr_lambda(surface) for surface in evaluation_model.diversity
        },
    }
    summary = reporting.metrics_table({"hybrid": metrics["hybrid"]}, columns=reporting.LEADING_COLUMNS)
    scores = ", ".join(f"{c} {v}" for c, v in zip(summary.columns, summary.rows[0][1], strict=True))
    log(f"Evaluated on {len(holdout.retailers):,} held-out baskets: {scores or 'no metrics'}")

    log.progress("compare with the active version", 0, 1)
    promote, decision, comparison = _champion_decision(
        challenger_metrics=metrics["hybrid"], evaluation_model=evaluation_model, holdout=holdout, data=data
    )
    log.progress("compare with the active version", 1, 1)
    log(decision)

    model = _fit_hybrid(data, hyper, log.stage_reporter("fit on all data"))
    artifact_dir = Path(settings.ARTIFACTS_DIR) / str(version.pk)
    sha256 = model.save(artifact_dir)
    version.metrics = metrics | ({"comparison": comparison} if comparison else {})
    version.training_seconds = round(time.monotonic() - started, 2)
    version.artifact_path = str(artifact_dir)
    version.artifact_sha256 = sha256
    version.decision = decision
    version.save(
        update_fields=["metrics", "training_seconds", "artifact_path", "artifact_sha256", "decision"]
    )
    log(
        f"Trained in {reporting.human_duration(version.training_seconds)}; "
        f"artifact {artifact_dir} sha256 {sha256[:12]}"
    )

    counts = model_version_precompute(
        version=version, model=model, log=log, progress=log.stage_reporter("precompute")
    )
    took = reporting.human_duration(version.precompute_seconds)
    log(f"Precomputed {sum(counts.values()):,} rows in {took}: {reporting.counts_text(counts)}")
    ModelVersion.objects.filter(pk=version.pk, status=ModelVersion.Status.TRAINING).update(
        status=ModelVersion.Status.CANDIDATE
    )
    version.refresh_from_db()
    log.progress("publish", 0, 1)
    if promote:
        version = model_version_activate(version=version)
        log(f"v{version.pk} is now active")
        # The vendor pages' rollups and forecasts follow the data the new version was trained on.
        vendors_refresh_all(forecasts=True)
    model_versions_prune()
    log.progress("publish", 1, 1)
    return version


# --- Loading a version's model (workers only).


def artifact_digest(path: str | Path) -> str:
    """The sha256 HybridRecommender.save returns: over the checksums of each member and of the blend."""
    from recommendations.ml.artifacts import CHECKSUM_FILE

    path = Path(path)
    members = json.loads((path / "hybrid" / "params.json").read_text())["values"]["member_names"]
    parts = [(path / "members" / name / CHECKSUM_FILE).read_text().strip() for name in members]
    parts.append((path / "hybrid" / CHECKSUM_FILE).read_text().strip())
    return hashlib.sha256("".join(parts).encode()).hexdigest()


@lru_cache(maxsize=2)
def _load_checked(path: str, sha256: str) -> Any:
    recorded = artifact_digest(path)
    if recorded != sha256:
        raise ValidationError(f"Artifact {path} has checksum {recorded}, the registry expects {sha256}.")
    # load() recomputes each part's digest from its files and refuses modified or truncated bundles.
    return _hybrid_class().load(path)


def model_version_load(*, version: ModelVersion) -> Any:
    if not version.artifact_path or version.pruned_at:
        raise ValidationError(f"v{version.pk} has no artifact to load.")
    return _load_checked(version.artifact_path, version.artifact_sha256)


# --- Precompute: bulk rows of one version, written while the active version keeps serving.


def _copy_rows(model: type[models.Model], columns: list[str], rows: Iterable[tuple]) -> int:
    """COPY on PostgreSQL (hundreds of thousands of rows in seconds); bulk_create elsewhere."""
    rows = list(rows)
    if not rows:
        return 0
    if _is_postgres():
        table = model._meta.db_table
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
    else:
        # Rows carry JSON as text, ready for COPY; the ORM wants the decoded value.
        json_columns = {field.column for field in model._meta.fields if isinstance(field, models.JSONField)}
        model.objects.bulk_create(
            [
                model(
                    **{
                        c: json.loads(v) if c in json_columns else v
                        for c, v in zip(columns, row, strict=True)
                    }
                )
                for row in rows
            ],
            batch_size=2000,
        )
    return len(rows)


def _delete_version_rows(version: ModelVersion, *, retailer_ids: Sequence[int] | None = None) -> None:
    for row_model in ROW_MODELS:
        rows = row_model.objects.filter(model_version=version)
        if retailer_ids is not None:
            if not any(field.name == "retailer" for field in row_model._meta.fields):
                continue
            rows = rows.filter(retailer_id__in=retailer_ids)
        # Checking first: a fresh version's precompute takes no write lock on tables it has no rows in.
        if rows.exists():
            rows._raw_delete(rows.db)


def _recommendation_rows(
    version_id: int, recommendations: Iterable[Any], surface: str, known: set[int]
) -> Iterator[tuple]:
    # Only the reasons are stored: their sentences are made when they are read, counted to that day.
    for rec in recommendations:
        if rec.product not in known:
            continue
        reasons = [explanations.reason_to_dict(reason) for reason in rec.reasons]
        yield (
            version_id,
            rec.retailer,
            rec.product,
            surface,
            rec.rank,
            float(rec.score),
            rec.probability,
            json.dumps(reasons),
        )


RECOMMENDATION_COLUMNS = [
    "model_version_id",
    "retailer_id",
    "product_id",
    "surface",
    "rank",
    "score",
    "probability",
    "reasons",
]
REORDER_COLUMNS = [
    "model_version_id",
    "retailer_id",
    "product_id",
    "expected_date",
    "confidence",
    "cadence_days",
    "last_ordered",
    "suggested_quantity",
    "times_ordered",
]


def _reorder_rows(version_id: int, predictions: Iterable[Any], known: set[int]) -> Iterator[tuple]:
    per_retailer: dict[int, int] = {}
    for due in predictions:
        if due.product not in known or per_retailer.get(due.retailer, 0) >= DUE_COUNT:
            continue
        per_retailer[due.retailer] = per_retailer.get(due.retailer, 0) + 1
        yield (
            version_id,
            due.retailer,
            due.product,
            due.expected_date,
            float(due.confidence),
            float(due.cadence_days),
            due.last_ordered,
            int(due.suggested_quantity),
            int(due.times_ordered),
        )


def _retailer_surfaces(
    *, version: ModelVersion, model: Any, retailer_ids: Sequence[int], as_of: date, names: dict[int, str]
) -> dict[str, int]:
    known = set(names)
    due = model.due(retailer_ids, as_of=as_of)
    sections = _sections(model=model, retailer_ids=retailer_ids, due=due, known=known)
    return _write_retailer_rows(
        version_id=version.pk,
        recommended=sections.for_you,
        new=sections.new_for_you,
        due=due,
        known=known,
    )


def _sections(
    *,
    model: Any,
    retailer_ids: Sequence[int],
    due: Sequence[Any],
    known: set[int],
    exclude: dict[int, set[int]] | None = None,
) -> Any:
    """Lay out "for you" and "new for you" around the due rows written beside them, so the stored lists
    already show each product once (ml/sections.py), diversified at the version's lam."""
    from recommendations.ml.sections import due_products, lay_out

    return lay_out(
        model,
        retailer_ids,
        due=due_products(due, limit=DUE_COUNT, known=known),
        for_you_count=FOR_YOU_COUNT,
        new_count=NEW_FOR_YOU_COUNT,
        exclude=exclude,
    )


def _write_retailer_rows(
    *,
    version_id: int,
    recommended: Iterable[Any],
    new: Iterable[Any],
    due: Iterable[Any],
    known: set[int],
) -> dict[str, int]:
    return {
        "for_you": _copy_rows(
            Recommendation,
            RECOMMENDATION_COLUMNS,
            _recommendation_rows(version_id, recommended, Surface.FOR_YOU, known),
        ),
        "new_for_you": _copy_rows(
            Recommendation,
            RECOMMENDATION_COLUMNS,
            _recommendation_rows(version_id, new, Surface.NEW_FOR_YOU, known),
        ),
        "due": _copy_rows(ReorderPrediction, REORDER_COLUMNS, _reorder_rows(version_id, due, known)),
    }


def _ranked(frame: Any, by: list[str], ascending: list[bool]) -> Any:
    frame = frame.sort_values(["product", *by], ascending=[True, *ascending], kind="mergesort")
    return frame.assign(rank=frame.groupby("product").cumcount() + 1)


def _product_rows(*, version: ModelVersion, model: Any, names: dict[int, str]) -> dict[str, int]:
    known = list(names)
    pairs = model.bought_together(min_together=ASSOCIATION_MIN_TOGETHER, top=ASSOCIATIONS_PER_PRODUCT)
    pairs = pairs[pairs["product"].isin(known) & pairs["other"].isin(known)]
    pairs = _ranked(pairs, ["lift", "together", "other"], [False, False, True])
    association_rows = (
        (
            version.pk,
            int(row.product),
            int(row.other),
            int(row.together),
            int(row.product_orders),
            int(row.other_orders),
            int(row.n_orders),
            float(row.support),
            float(row.confidence),
            float(row.lift),
            int(row.rank),
            explanations.association_sentence(
                product_name=names[int(row.product)],
                together=int(row.together),
                product_orders=int(row.product_orders),
                lift=float(row.lift),
            ),
        )
        for row in pairs.itertuples(index=False)
    )
    similar = model.similar_products(top=SIMILAR_PER_PRODUCT)
    similar = similar[similar["product"].isin(known) & similar["other"].isin(known)]
    similar = _ranked(similar, ["similarity", "other"], [False, True])
    similar_rows = (
        (version.pk, int(row.product), int(row.other), float(row.similarity), int(row.rank))
        for row in similar.itertuples(index=False)
    )
    columns = ["model_version_id", "product_id", "other_id"]
    return {
        "bought_together": _copy_rows(
            ProductAssociation,
            [
                *columns,
                "together",
                "product_orders",
                "other_orders",
                "n_orders",
                "support",
                "confidence",
                "lift",
                "rank",
                "explanation",
            ],
            association_rows,
        ),
        "similar": _copy_rows(SimilarProduct, [*columns, "similarity", "rank"], similar_rows),
        "item_vectors": _copy_rows(
            ItemVector,
            ["model_version_id", "product_id", "vector", "dimensions"],
            _item_vector_rows(version.pk, model.serving_artifacts(), set(known)),
        ),
    }


def _item_vector_rows(version_id: int, artifacts: dict[str, np.ndarray], known: set[int]) -> Iterator[tuple]:
    """The neural item embeddings, one row per product (its row 0 is padding, so rows shift by one)."""
    ids = artifacts.get("product_ids")
    embeddings = artifacts.get("neural_item_emb")
    if ids is None or embeddings is None:
        return
    vectors = np.asarray(embeddings, dtype=np.float32)[len(embeddings) - len(ids) :]
    for product_id, vector in zip(ids.tolist(), vectors, strict=True):
        if int(product_id) in known:
            yield (version_id, int(product_id), vector.tobytes(), int(vector.shape[0]))


def _product_names() -> dict[int, str]:
    return dict(Product.objects.values_list("id", "name"))


def model_version_precompute(
    *,
    version: ModelVersion,
    model: Any,
    log: Progress | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    """Write every row of `version`, replacing any partial rows from an interrupted attempt (idempotent).

    `progress(step, steps)` is told after each batch of retailers, the product rows and the documents."""
    started = time.monotonic()
    names = _product_names()
    retailer_ids = list(Retailer.objects.order_by("id").values_list("id", flat=True))
    as_of = version.data_cutoff.date()
    batches = range(0, len(retailer_ids), RETAILER_BATCH)
    steps = len(batches) + 2
    report = progress or (lambda step, steps: None)
    report(0, steps)
    _delete_version_rows(version)
    counts = {"for_you": 0, "new_for_you": 0, "due": 0}
    for done, start in enumerate(batches, 1):
        batch = retailer_ids[start : start + RETAILER_BATCH]
        with transaction.atomic():
            for key, value in _retailer_surfaces(
                version=version, model=model, retailer_ids=batch, as_of=as_of, names=names
            ).items():
                counts[key] += value
        if log:
            log(f"Retailers {start + len(batch):,}/{len(retailer_ids):,}")
        report(done, steps)
    with transaction.atomic():
        counts |= _product_rows(version=version, model=model, names=names)
    report(steps - 1, steps)
    documents.documents_build_all(version=version, retailer_ids=retailer_ids)
    report(steps, steps)
    version.row_counts = counts
    version.precompute_seconds = round(time.monotonic() - started, 2)
    version.save(update_fields=["row_counts", "precompute_seconds"])
    return counts


# --- Publish, roll back, prune.


@transaction.atomic
def model_version_activate(*, version: ModelVersion) -> ModelVersion:
    """Flip the active pointer in one transaction; readers see the old version or the new, never a mix."""
    version = ModelVersion.objects.select_for_update().get(pk=version.pk)
    if version.status == ModelVersion.Status.ACTIVE:
        return version
    if (
        version.status not in (ModelVersion.Status.CANDIDATE, ModelVersion.Status.RETIRED)
        or version.pruned_at
    ):
        raise ValidationError(
            f"v{version.pk} is {version.get_status_display().lower()} and cannot be activated."
        )
    # Retire first: the partial unique index allows only one active row at any instant.
    ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).update(status=ModelVersion.Status.RETIRED)
    version.status = ModelVersion.Status.ACTIVE
    version.activated_at = timezone.now()
    version.save(update_fields=["status", "activated_at"])
    return version


@transaction.atomic
def model_version_rollback() -> ModelVersion:
    """Re-activate the version that was active before the current one."""
    current = ModelVersion.objects.select_for_update().filter(status=ModelVersion.Status.ACTIVE).first()
    previous = (
        ModelVersion.objects.filter(
            status=ModelVersion.Status.RETIRED, activated_at__isnull=False, pruned_at__isnull=True
        )
        .exclude(pk=current.pk if current else None)
        .order_by("-activated_at")
        .first()
    )
    if previous is None:
        raise ValidationError("There is no previous version with its rows still available to roll back to.")
    return model_version_activate(version=previous)


def _artifacts_remove(version: ModelVersion) -> None:
    """The version's artifact directory: the recorded one, and the default one that a save failing midway
    (before the path was recorded) may have left."""
    for path in {version.artifact_path, str(Path(settings.ARTIFACTS_DIR) / str(version.pk))} - {""}:
        shutil.rmtree(path, ignore_errors=True)


def _failed_version_discard(*, version: ModelVersion) -> None:
    """A failed version never serves: its rows and artifact files go at once, its record and error stay."""
    if version.pruned_at is None:
        _delete_version_rows(version)
        ModelVersion.objects.filter(pk=version.pk, pruned_at__isnull=True).update(pruned_at=timezone.now())
    _artifacts_remove(version)


def model_versions_prune(*, keep: int = RETAINED_VERSIONS) -> list[int]:
    """Delete rows and artifacts of all but the `keep` newest non-active versions, and of every failed version
    (one that failed before its files were cleared, or whose clean-up was interrupted); their records stay."""
    stale = ModelVersion.objects.filter(
        status__in=[ModelVersion.Status.RETIRED, ModelVersion.Status.CANDIDATE], pruned_at__isnull=True
    ).order_by("-created_at", "-id")[keep:]
    pruned = []
    for version in stale:
        with transaction.atomic():
            locked = ModelVersion.objects.select_for_update().get(pk=version.pk)
            if locked.status == ModelVersion.Status.ACTIVE:
                continue
            _delete_version_rows(locked)
            locked.pruned_at = timezone.now()
            locked.save(update_fields=["pruned_at"])
        _artifacts_remove(version)
        pruned.append(version.pk)
    for version in ModelVersion.objects.filter(status=ModelVersion.Status.FAILED):
        _failed_version_discard(version=version)
    return pruned


# Versions that no longer serve and are not being built; staff may delete them from the admin.
DELETABLE_STATUSES = (ModelVersion.Status.FAILED, ModelVersion.Status.RETIRED, ModelVersion.Status.CANDIDATE)


def model_versions_deletion_refusal(*, versions: Iterable[ModelVersion]) -> str | None:
    """Why these versions may not be deleted, in words for staff; None when they all may."""
    refused = [version for version in versions if version.status not in DELETABLE_STATUSES]
    if not refused:
        return None
    names = ", ".join(f"v{version.pk} ({version.get_status_display().lower()})" for version in refused)
    return (
        f"{names} cannot be deleted: only failed, retired and candidate versions can. "
        "To delete the active version, activate or roll back to another one first."
    )


@transaction.atomic
def model_versions_delete(*, version_ids: Sequence[int]) -> list[int]:
    """Delete failed, retired or candidate versions with their rows and artifact files; returns their ids.

    Refuses (ValidationError, nothing deleted) when any of them is active or still being trained. Their
    training runs and feedback events stay, without the version. The files go only once the deletion has
    committed, so a rolled-back deletion keeps a version that can still be loaded.
    """
    versions = list(ModelVersion.objects.select_for_update().filter(pk__in=version_ids).order_by("pk"))
    refusal = model_versions_deletion_refusal(versions=versions)
    if refusal:
        raise ValidationError(refusal)
    # The cascade deletes each table's rows in one statement (nothing listens to their deletion) and nulls the
    # runs' and events' references in one UPDATE each, without loading them.
    ModelVersion.objects.filter(pk__in=[version.pk for version in versions]).delete()
    for version in versions:
        transaction.on_commit(lambda version=version: _artifacts_remove(version))
    return [version.pk for version in versions]


# --- Freshness: one retailer's rows from the active model, without a retrain.


def _retailer_repeat_model(*, model: Any, retailer_id: int) -> Any:
    """The active model's repeat settings fitted on this retailer's whole history, orders after the cutoff
    included: same rule, fresh data. None when the retailer has no orders."""
    from recommendations.ml.data import TrainingData
    from recommendations.ml.repeat import RepeatModel
    from recommendations.training_data import training_data_from_db

    data = training_data_from_db(retailer_id=retailer_id)
    if data.interactions.empty:
        return None
    own = TrainingData(data.interactions, data.products, data.retailers.loc[[retailer_id]])
    return RepeatModel(**model.params.get("repeat", {})).fit(own)


def _with_current_history(recommendation: Any, repeat: Any) -> Any:
    """Repeat and due reasons restated from the retailer's orders as they are now, so a sentence never
    quotes a count or a last-order date that a newer order has made false."""
    row = int(repeat.retailer_rows([recommendation.retailer])[0])
    items = repeat.product_rows([recommendation.product])
    reasons = []
    for reason in recommendation.reasons:
        if reason.kind in ("repeat", "due"):
            current = repeat.reason(row, int(items[0])) if row >= 0 and len(items) else None
            if current is None:
                continue
            reason = replace(reason, kind=current[0], facts=current[1])
        reasons.append(reason)
    return replace(recommendation, reasons=tuple(reasons))


def retailer_refresh(*, retailer_id: int) -> dict[str, int]:
    """Rewrite this retailer's rows of the active version; same inputs give the same rows (idempotent).

    The active model ranks as it did at its data cutoff; what the retailer ordered since is left out of
    "for you" and "new for you" (just bought), and reorder predictions and repeat reasons come from the
    retailer's whole order history.
    """
    version = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()
    if version is None:
        return {}
    model = model_version_load(version=version)
    placed = Order.objects.filter(retailer_id=retailer_id, status=Order.Status.PLACED)
    latest = placed.order_by("-placed_at").values_list("placed_at", flat=True).first()
    as_of = max(version.data_cutoff.date(), latest.date()) if latest else version.data_cutoff.date()
    ordered_since = set(
        placed.filter(placed_at__gt=version.data_cutoff).values_list("lines__product_id", flat=True)
    )
    known = set(_product_names())
    repeat = _retailer_repeat_model(model=model, retailer_id=retailer_id)
    due = repeat.due([retailer_id], as_of=as_of) if repeat else []
    sections = _sections(
        model=model, retailer_ids=[retailer_id], due=due, known=known, exclude={retailer_id: ordered_since}
    )
    recommended = [_with_current_history(rec, repeat) if repeat else rec for rec in sections.for_you]
    new = sections.new_for_you
    with transaction.atomic():
        # Lock the version row so a concurrent prune cannot delete it between our delete and insert.
        if (
            not ModelVersion.objects.select_for_update()
            .filter(pk=version.pk, pruned_at__isnull=True)
            .exists()
        ):
            return {}
        _delete_version_rows(version, retailer_ids=[retailer_id])
        counts = _write_retailer_rows(
            version_id=version.pk, recommended=recommended, new=new, due=due, known=known
        )
        documents.document_rebuild(retailer_id=retailer_id, version=version)
        return counts


def retailers_refresh_recent(*, hours: int = 2) -> list[int]:
    """Retailers with orders placed recently: the hourly catch-up for refreshes lost while Redis was down."""
    since = timezone.now() - timedelta(hours=hours)
    retailer_ids = sorted(
        set(
            Order.objects.filter(status=Order.Status.PLACED, placed_at__gte=since).values_list(
                "retailer_id", flat=True
            )
        )
    )
    for retailer_id in retailer_ids:
        retailer_refresh(retailer_id=retailer_id)
    return retailer_ids
