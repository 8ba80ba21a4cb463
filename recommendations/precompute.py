"""Precompute: bulk rows of one model version, written while the active version keeps serving.

Workers write every row of a new ModelVersion beside the active one (publish.py then flips the pointer in one
transaction), so readers (selectors.py) never see a half-written version. The refresh after an order rewrites
one retailer's rows with the same writers. The ML core is imported inside functions only.
"""

import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date
from typing import Any

import numpy as np
from django.db import connection, models, transaction

from accounts.models import Retailer
from catalog.models import Product
from recommendations import documents, explanations
from recommendations.models import (
    ItemVector,
    ModelVersion,
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
RETAILER_BATCH = 500

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
    names = product_names()
    retailer_ids = list(Retailer.objects.order_by("id").values_list("id", flat=True))
    as_of = version.data_cutoff.date()
    batches = range(0, len(retailer_ids), RETAILER_BATCH)
    steps = len(batches) + 2
    report = progress or (lambda step, steps: None)
    report(0, steps)
    model_version_rows_delete(version=version)
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
