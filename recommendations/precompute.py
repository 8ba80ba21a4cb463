"""Precompute: bulk rows of one model version, written while the active version keeps serving.

Workers write every row of a new ModelVersion beside the active one (publish.py then flips the pointer in one
transaction), so readers (selectors.py) never see a half-written version. The refresh after an order rewrites
one retailer's rows with the same writers. The ML core is imported inside functions only.

A version's precompute is split into shards (PrecomputeShard): the retailers in id order cut into ranges of
whole scoring batches, and the product rows. The shards are recorded, then queued to the workers (one task
each, through the task outbox); the process that runs the precompute (the retrain) works through them too,
so one worker process does it all and each further process takes shards off it. Each shard is written in one
transaction that also marks it done, so a shard is either all there or not at all; a worker killed mid-shard
releases its lock with its session and the shard is taken over. The precompute returns only once every shard
is done; a shard that keeps failing stops it with PrecomputeIncomplete, the version unpublished and the done
shards kept, so completing it later writes only the missing ones.
"""

import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from accounts.models import Retailer
from catalog.models import Product
from recommendations import documents, explanations
from recommendations.models import (
    ItemVector,
    ModelVersion,
    PrecomputeShard,
    ProductAssociation,
    Recommendation,
    RecommendationDocument,
    ReorderPrediction,
    SimilarProduct,
    Surface,
)

FOR_YOU_COUNT = 20
NEW_FOR_YOU_COUNT = 20
# `evaluate` measures the layout with ml.sections.DUE_COUNT due rows: the same number (a test says so).
DUE_COUNT = 30
ASSOCIATIONS_PER_PRODUCT = 20
ASSOCIATION_MIN_TOGETHER = 3
SIMILAR_PER_PRODUCT = 20
# A shard that raised this many times stops the precompute (the version stays unpublished and resumable).
MAX_SHARD_FAILURES = 2
# How often the precompute looks again when every pending shard is being written elsewhere.
SHARD_POLL_SECONDS = 0.2
SHARD_TASK = "recommendations.tasks.precompute_shard"

logger = logging.getLogger(__name__)

ROW_MODELS: tuple[type[models.Model], ...] = (
    # First: documents are built from the rows below, and go with them.
    RecommendationDocument,
    Recommendation,
    ReorderPrediction,
    ProductAssociation,
    SimilarProduct,
    ItemVector,
)

PRODUCT_ROW_MODELS: tuple[type[models.Model], ...] = (ProductAssociation, SimilarProduct, ItemVector)

Progress = Callable[[str], None]


class PrecomputeIncomplete(Exception):
    """A shard failed MAX_SHARD_FAILURES times: the version is not published; its done shards are kept."""


class ShardFailed(Exception):
    """Writing a claimed shard raised (the cause is chained): its rows rolled back, its failure counted."""


def _copy_rows(model: type[models.Model], columns: list[str], rows: Iterable[tuple]) -> int:
    """COPY on PostgreSQL (hundreds of thousands of rows in seconds); bulk_create elsewhere."""
    rows = list(rows)
    if not rows:
        return 0
    if connection.vendor == "postgresql":
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


def model_version_rows_delete(*, version: ModelVersion, retailer_ids: Sequence[int] | None = None) -> None:
    """Delete the version's rows (only these retailers' when `retailer_ids` is given)."""
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
    sections = sections_lay_out(model=model, retailer_ids=retailer_ids, due=due, known=known)
    return retailer_rows_write(
        version_id=version.pk,
        recommended=sections.for_you,
        new=sections.new_for_you,
        due=due,
        known=known,
    )


def sections_lay_out(
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


def retailer_rows_write(
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


def product_names() -> dict[int, str]:
    return dict(Product.objects.values_list("id", "name"))


# --- Shards


def precompute_shards_plan(*, version: ModelVersion) -> list[PrecomputeShard]:
    """The version's shards: the recorded ones (a resumed precompute keeps those done), or new ones: the
    retailers in id order, then the product rows; settings.PRECOMPUTE_SHARD_BATCHES batches of
    settings.PRECOMPUTE_RETAILER_BATCH per shard (whole batches: a re-ranked row's stored score carries an
    offset taken over its batch, so other cuts would change the rows)."""
    recorded = list(version.precompute_shards.order_by("index"))
    if recorded:
        return recorded
    batch = settings.PRECOMPUTE_RETAILER_BATCH
    per_shard = batch * settings.PRECOMPUTE_SHARD_BATCHES
    retailer_ids = list(Retailer.objects.order_by("id").values_list("id", flat=True))
    shards = []
    for start in range(0, len(retailer_ids), per_shard):
        chunk = retailer_ids[start : start + per_shard]
        shards.append(
            PrecomputeShard(
                model_version=version,
                index=len(shards),
                first_retailer_id=chunk[0],
                last_retailer_id=chunk[-1],
                retailer_batch=batch,
            )
        )
    # Last, as the single-process precompute wrote them: after every retailer's rows.
    shards.append(
        PrecomputeShard(model_version=version, index=len(shards), kind=PrecomputeShard.Kind.PRODUCTS)
    )
    return PrecomputeShard.objects.bulk_create(shards)


def _claimable() -> models.Q:
    return models.Q(status=PrecomputeShard.Status.PENDING, failures__lt=MAX_SHARD_FAILURES)


def _version_held(version_id: int) -> bool:
    """Whether the version may still take rows, holding its row (FOR SHARE) until the shard commits: a
    version failed and discarded meanwhile (training_runs) waits for the shard, then deletes its rows too."""
    if connection.vendor != "postgresql":
        return _writable(ModelVersion.objects.filter(pk=version_id)).exists()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {ModelVersion._meta.db_table} WHERE id = %s AND status <> %s"
            " AND pruned_at IS NULL FOR SHARE",
            [version_id, ModelVersion.Status.FAILED],
        )
        return cursor.fetchone() is not None


def _writable(versions: models.QuerySet[ModelVersion]) -> models.QuerySet[ModelVersion]:
    # A failed or pruned version takes no rows; any other may be (re)written, a shard at a time.
    return versions.exclude(status=ModelVersion.Status.FAILED).filter(pruned_at__isnull=True)


def _written_by() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


def _shard_write(
    *, candidates: models.QuerySet[PrecomputeShard], model: Any | None
) -> PrecomputeShard | None:
    """Claim the first free pending shard of `candidates` and write it, rows and "done" in one transaction;
    None when every pending one is taken (by another worker) or done. `model` is loaded from the version's
    artifact when not given. A shard that raises is left pending with its failure counted."""
    claimed: PrecomputeShard | None = None
    try:
        with transaction.atomic():
            # SKIP LOCKED: a shard being written elsewhere is passed over; its lock ends with that session.
            claimed = (
                candidates.filter(_claimable())
                .select_for_update(skip_locked=True)
                .select_related("model_version")
                .order_by("index")
                .first()
            )
            if claimed is None or not _version_held(claimed.model_version_id):
                return None
            version = claimed.model_version
            if model is None:
                from recommendations.artifacts import model_version_load

                model = model_version_load(version=version)
            started = time.monotonic()
            counts = _shard_rows_write(shard=claimed, version=version, model=model)
            claimed.status = PrecomputeShard.Status.DONE
            claimed.row_counts = counts
            claimed.seconds = round(time.monotonic() - started, 3)
            claimed.written_by = _written_by()
            claimed.finished_at = timezone.now()
            claimed.error = ""
            claimed.save(
                update_fields=["status", "row_counts", "seconds", "written_by", "finished_at", "error"]
            )
            return claimed
    except Exception as exc:
        if claimed is None:
            raise
        logger.exception("precompute shard %s of v%s failed", claimed.index, claimed.model_version_id)
        PrecomputeShard.objects.filter(pk=claimed.pk).update(
            failures=models.F("failures") + 1, error=f"{type(exc).__name__}: {exc}"[:2000]
        )
        raise ShardFailed(f"shard {claimed.index} of v{claimed.model_version_id}: {exc}") from exc


def _shard_rows_write(*, shard: PrecomputeShard, version: ModelVersion, model: Any) -> dict[str, int]:
    """The shard's rows, replacing any of its range (a shard is rewritten whole, so this is idempotent)."""
    names = product_names()
    if shard.kind == PrecomputeShard.Kind.PRODUCTS:
        for row_model in PRODUCT_ROW_MODELS:
            rows = row_model.objects.filter(model_version=version)
            if rows.exists():
                rows._raw_delete(rows.db)
        return _product_rows(version=version, model=model, names=names)
    retailer_ids = list(
        Retailer.objects.filter(id__gte=shard.first_retailer_id, id__lte=shard.last_retailer_id)
        .order_by("id")
        .values_list("id", flat=True)
    )
    model_version_rows_delete(version=version, retailer_ids=retailer_ids)
    as_of = version.data_cutoff.date()
    counts = {"for_you": 0, "new_for_you": 0, "due": 0}
    for start in range(0, len(retailer_ids), shard.retailer_batch):
        batch = retailer_ids[start : start + shard.retailer_batch]
        for key, value in _retailer_surfaces(
            version=version, model=model, retailer_ids=batch, as_of=as_of, names=names
        ).items():
            counts[key] += value
    documents.documents_build_all(version=version, retailer_ids=retailer_ids)
    return counts


def precompute_shard_write(*, shard_id: int) -> int | None:
    """A worker's share of a precompute: shard `shard_id`, or, when another process has it (or it is done),
    the next free pending shard of the same version. Returns the shard written, None when there was none."""
    version_id = (
        PrecomputeShard.objects.filter(pk=shard_id).values_list("model_version_id", flat=True).first()
    )
    if version_id is None:
        return None
    written = _shard_write(candidates=PrecomputeShard.objects.filter(pk=shard_id), model=None)
    if written is None:
        written = _shard_write(
            candidates=PrecomputeShard.objects.filter(model_version_id=version_id), model=None
        )
    return written.pk if written else None


def model_version_precompute(
    *,
    version: ModelVersion,
    model: Any,
    log: Progress | None = None,
    progress: Callable[[int, int], None] | None = None,
    resume: bool = False,
) -> dict[str, int]:
    """Write every row of `version` through its shards and return once all are done (idempotent).

    Starts afresh (any rows and shards of the version dropped) unless `resume`, which writes only the shards
    not yet done. The shards are queued to the workers and worked on here too; `progress(step, steps)` is told
    the shards done. Raises PrecomputeIncomplete when a shard fails MAX_SHARD_FAILURES times."""
    from recommendations.outbox import task_outbox_add, tasks_run_in_process

    started = time.monotonic()
    report = progress or (lambda step, steps: None)
    if not resume:
        with transaction.atomic():
            version.precompute_shards.all().delete()
            model_version_rows_delete(version=version)
    with transaction.atomic():
        if resume:
            # A fresh try for the shards that stopped the last attempt (their last error stays until done).
            version.precompute_shards.filter(status=PrecomputeShard.Status.PENDING).update(failures=0)
        shards = precompute_shards_plan(version=version)
        # In-process (the embedded default) this process writes every shard itself: no task to queue.
        if not tasks_run_in_process():
            for shard in shards:
                if shard.status == PrecomputeShard.Status.PENDING:
                    task_outbox_add(task_name=SHARD_TASK, args=[shard.pk])
    steps = len(shards)
    mine = 0
    all_shards = version.precompute_shards.all()
    while True:
        report(all_shards.filter(status=PrecomputeShard.Status.DONE).count(), steps)
        try:
            written = _shard_write(candidates=all_shards, model=model)
        except ShardFailed:
            # Counted on the shard; it is tried again until it has failed MAX_SHARD_FAILURES times.
            continue
        if written is not None:
            mine += 1
            continue
        pending = all_shards.filter(status=PrecomputeShard.Status.PENDING)
        if not pending.exists():
            break
        if not _writable(ModelVersion.objects.filter(pk=version.pk)).exists():
            raise PrecomputeIncomplete(f"v{version.pk} failed or was pruned during its precompute")
        failed = list(pending.filter(failures__gte=MAX_SHARD_FAILURES).order_by("index"))
        if failed:
            first = failed[0]
            raise PrecomputeIncomplete(
                f"{len(failed)} of {steps} precompute shards of v{version.pk} failed {MAX_SHARD_FAILURES} "
                f"times (shard {first.index}: {first.error}); the other shards are kept"
            )
        time.sleep(SHARD_POLL_SECONDS)
    report(steps, steps)
    counts: dict[str, int] = {}
    for shard_counts in all_shards.values_list("row_counts", flat=True):
        for key, value in shard_counts.items():
            counts[key] = counts.get(key, 0) + value
    if log:
        log(f"Precompute: {steps} shards, {mine} written by this process, {steps - mine} by other workers")
    version.row_counts = counts
    version.precompute_seconds = round(time.monotonic() - started, 2)
    version.save(update_fields=["row_counts", "precompute_seconds"])
    return counts
