"""The retrain pipeline: extract, fit for evaluation, evaluate, compare with the active version (champion /
challenger), fit on all data, precompute, publish.

A run is one TrainingRun (training_runs.py); it holds the retrain lock from claim to end. The ML core is
imported inside functions only, so importing this module never loads TensorFlow.
"""

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from recommendations import reporting
from recommendations.artifacts import model_version_load
from recommendations.models import ModelVersion, TrainingRun
from recommendations.precompute import PrecomputeIncomplete, Progress, model_version_precompute
from recommendations.publish import model_version_activate, model_versions_prune
from recommendations.training_runs import (
    retrain_lock,
    training_run_claim,
    training_run_fail,
    training_run_progress_record,
    training_runs_abandoned_fail,
    training_runs_active_for,
)
from vendors.services import vendors_refresh_all

logger = logging.getLogger(__name__)

# The champion/challenger comparison metric (protocol A, next basket) and the smallest fair holdout.
PROMOTION_METRIC = "ndcg@10"
MIN_COMPARABLE_RETAILERS = 10

# (stage, step, steps): a stage's progress as the pipeline reports it to a console.
StageProgress = Callable[[str, int, int], None]


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


def _fit_hybrid(data: Any, hyper: dict[str, Any], progress: Callable[[int, int], None] | None = None) -> Any:
    from recommendations.ml.hybrid import HybridRecommender

    return HybridRecommender(**hyper).fit(data, progress=progress)


def _evaluate(model: Any, holdout: Any, completion_scorer: Any = None) -> dict[str, float]:
    """Protocol A and B on `holdout`; protocol B by `completion_scorer` when given (the hybrid's `complete`,
    its own completion weights), else by the model's `score`."""
    from recommendations.ml.evaluation import completion_metrics, next_basket_metrics, ranked_lists

    if not len(holdout.retailers):
        return {}
    ranked = ranked_lists(model.score, model.product_ids, holdout.retailers, 20)
    metrics = next_basket_metrics(ranked, holdout, len(model.product_ids))
    return metrics | completion_metrics(completion_scorer or model.score, model.product_ids, holdout)


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
    with retrain_lock():
        with transaction.atomic():
            training_runs_abandoned_fail()
            run = training_run_claim(run_id=run_id, celery_task_id=celery_task_id)
        log = _RunLog(run, echo, on_progress)
        version: ModelVersion | None = None
        try:
            version = _train_evaluate_publish(run=run, log=log)
        except PrecomputeIncomplete as exc:
            logger.exception("training run %s failed in precompute", run.pk)
            version = version or run.model_version
            training_run_fail(
                run=run,
                version=version,
                error=f"{exc}. Complete it with `manage.py retrain --resume-precompute {version.pk}`.",
                keep_version=True,
            )
            raise
        except Exception as exc:
            logger.exception("training run %s failed", run.pk)
            training_run_fail(
                run=run, version=version or run.model_version, error=f"{type(exc).__name__}: {exc}"
            )
            raise
        run.model_version = version
        run.status = TrainingRun.Status.SUCCEEDED
        run.finished_at = timezone.now()
        run.duration = (run.finished_at - run.started_at).total_seconds()
        run.save(update_fields=["status", "finished_at", "duration"])
        return run


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
        completion = evaluation_model.complete if member is evaluation_model else None
        metrics[name] = _evaluate(member, holdout, completion)
    log.progress("evaluate", len(evaluated), len(evaluated))
    metrics["hybrid"] |= _calibration_errors(evaluation_model, holdout)
    metrics["blend"] = {
        "weights": evaluation_model.weights,
        "completion_weights": evaluation_model.completion_weights,
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
    # The live basket completion reads its weights from the version it serves (selectors.completion_weights).
    version.parameters = version.parameters | {"completion": model.completion_serving()}
    version.metrics = metrics | ({"comparison": comparison} if comparison else {})
    version.training_seconds = round(time.monotonic() - started, 2)
    version.artifact_path = str(artifact_dir)
    version.artifact_sha256 = sha256
    version.decision = decision
    version.publish_when_precomputed = promote
    version.save(
        update_fields=[
            "parameters",
            "metrics",
            "training_seconds",
            "artifact_path",
            "artifact_sha256",
            "decision",
            "publish_when_precomputed",
        ]
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
    log.progress("publish", 0, 1)
    version = _precomputed_version_publish(version=version, log=log)
    log.progress("publish", 1, 1)
    return version


def _precomputed_version_publish(*, version: ModelVersion, log: Progress) -> ModelVersion:
    """Every shard is written: the version becomes a candidate, and goes live if its run decided so."""
    ModelVersion.objects.filter(pk=version.pk, status=ModelVersion.Status.TRAINING).update(
        status=ModelVersion.Status.CANDIDATE
    )
    version.refresh_from_db()
    if version.publish_when_precomputed:
        version = model_version_activate(version=version)
        log(f"v{version.pk} is now active")
        # The vendor pages' rollups and forecasts follow the data the new version was trained on.
        vendors_refresh_all(forecasts=True)
    model_versions_prune()
    return version


def model_version_precompute_complete(*, version_id: int, echo: Progress | None = None) -> ModelVersion:
    """Write the shards of a version's precompute that are not done yet (all of them when it has none), then
    publish it as its run decided when it was still being built (a precompute stopped by a failing shard).

    Holds the retrain lock, so it never runs beside a retrain. Raises RetrainRefused when a retrain holds it,
    ValidationError for a version that is not a candidate or still in training, PrecomputeIncomplete when a
    shard fails again (the version stays as it was, resumable)."""
    with retrain_lock():
        version = ModelVersion.objects.get(pk=version_id)
        if version.status not in (ModelVersion.Status.TRAINING, ModelVersion.Status.CANDIDATE) or (
            version.pruned_at
        ):
            raise ValidationError(
                f"v{version.pk} is {version.get_status_display().lower()}: nothing to complete."
            )
        if version.status == ModelVersion.Status.TRAINING and (
            not version.artifact_path or training_runs_active_for(version=version)
        ):
            raise ValidationError(f"v{version.pk} is still being trained.")
        log = echo or (lambda line: logger.info("precompute of v%s: %s", version.pk, line))
        counts = model_version_precompute(
            version=version, model=model_version_load(version=version), log=log, resume=True
        )
        log(f"Precomputed {sum(counts.values()):,} rows: {reporting.counts_text(counts)}")
        if version.status == ModelVersion.Status.CANDIDATE:
            return version
        return _precomputed_version_publish(version=version, log=log)
