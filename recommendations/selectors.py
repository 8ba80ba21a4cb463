"""Reads of precomputed recommendation rows; every function reads the active version only.

Each selector resolves the active version once and filters by its id, so one call never mixes rows of two
versions while a new version is being published. A page that calls several selectors passes the same
`version` (from `active_version()`) to each, so the whole request reads one version.
"""

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from django.db import connection
from django.db.models import QuerySet
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from accounts.models import Retailer
from catalog.models import Product
from recommendations import explanations
from recommendations.feedback import Event, Kind, Surface
from recommendations.models import (
    ItemVector,
    ModelVersion,
    ProductAssociation,
    Recommendation,
    ReorderPrediction,
    SimilarProduct,
    TrainingRun,
)
from smartbasket import read_through

# How strongly the basket's embedding agrees with a candidate, relative to the association lift signal.
EMBEDDING_WEIGHT = 0.5


@dataclass(frozen=True)
class Suggestion:
    product: Product
    score: float
    reasons: list[dict]
    explanation: str


def active_version() -> ModelVersion | None:
    return ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()


_ACTIVE_VERSION_SQL = f'SELECT "id" FROM "{ModelVersion._meta.db_table}" WHERE "status" = %s'
ACTIVE_VERSION_KEY = "active_version_id"
# Every save or delete of a version replaces the entry by a tombstone, so a flip is seen by the next read; a
# status change the signals do not see (`QuerySet.update()`, Redis failing at that instant) within this.
ACTIVE_VERSION_SECONDS = 60
# Each process holds the id it found for this long: a flip reaches the other processes up to a second late
# (a request still reads one version throughout).
ACTIVE_VERSION_LOCAL_SECONDS = 1.0


def _stored_active_version_id() -> int | None:
    # Written out: compiling the ORM's query costs several times the round trip of this one (the partial
    # unique index on `status` finds the row).
    with connection.cursor() as cursor:
        cursor.execute(_ACTIVE_VERSION_SQL, [ModelVersion.Status.ACTIVE])
        row = cursor.fetchone()
    return row[0] if row else None


def active_version_id() -> int | None:
    """The active version's id, from Redis when cached there (smartbasket/read_through.py): every API read
    and portal page asks, and it changes once per retrain."""
    return read_through.entry_read(
        key=ACTIVE_VERSION_KEY,
        load=_stored_active_version_id,
        seconds=ACTIVE_VERSION_SECONDS,
        local_seconds=ACTIVE_VERSION_LOCAL_SECONDS,
    )


def _version_changed(sender: type[ModelVersion], raw: bool = False, **kwargs: Any) -> None:
    if not raw:
        read_through.entries_changed(keys=[ACTIVE_VERSION_KEY])


post_save.connect(_version_changed, sender=ModelVersion, dispatch_uid="active_version_id_save")
post_delete.connect(_version_changed, sender=ModelVersion, dispatch_uid="active_version_id_delete")


def _version_id(version: ModelVersion | None) -> int | None:
    if version is not None:
        return version.pk
    return active_version_id()


def recommendations_for(
    *, retailer: Retailer, surface: str, limit: int = 10, version: ModelVersion | None = None
) -> list[Recommendation]:
    version_id = _version_id(version)
    if version_id is None:
        return []
    return list(
        Recommendation.objects.filter(model_version_id=version_id, retailer=retailer, surface=surface)
        .select_related("product", "product__vendor")
        .order_by("rank")[:limit]
    )


def reorders_due_for(
    *,
    retailer: Retailer,
    limit: int = 10,
    version: ModelVersion | None = None,
    product_ids: Collection[int] | None = None,
) -> list[ReorderPrediction]:
    """The retailer's reorder predictions, soonest first; only those of `product_ids` when given."""
    version_id = _version_id(version)
    if version_id is None:
        return []
    rows = ReorderPrediction.objects.filter(model_version_id=version_id, retailer=retailer)
    if product_ids is not None:
        rows = rows.filter(product_id__in=product_ids)
    return list(
        rows.select_related("product", "product__vendor", "product__category").order_by(
            "expected_date", "-confidence", "product_id"
        )[:limit]
    )


def bought_together_for(
    *, product: Product, limit: int = 10, version: ModelVersion | None = None
) -> list[ProductAssociation]:
    version_id = _version_id(version)
    if version_id is None:
        return []
    return list(
        ProductAssociation.objects.filter(model_version_id=version_id, product=product)
        .select_related("other", "other__vendor")
        .order_by("rank")[:limit]
    )


def similar_to(
    *, product: Product, limit: int = 10, version: ModelVersion | None = None
) -> list[SimilarProduct]:
    version_id = _version_id(version)
    if version_id is None:
        return []
    return list(
        SimilarProduct.objects.filter(model_version_id=version_id, product=product)
        .select_related("other", "other__vendor")
        .order_by("rank")[:limit]
    )


@dataclass(frozen=True)
class Related:
    """A product's "often bought together" and "similar products" rows, both read from one version."""

    bought_together: list[ProductAssociation]
    similar: list[SimilarProduct]

    def impressions(self) -> list[Event]:
        panels = ((Surface.BOUGHT_TOGETHER, self.bought_together), (Surface.SIMILAR, self.similar))
        return [
            Event(row.other_id, surface, Kind.IMPRESSION, row.model_version_id)
            for surface, rows in panels
            for row in rows
        ]


def related_to(*, product: Product, limit: int) -> Related:
    """Rows are computed at training time: products discontinued since then are dropped, not offered."""
    version = active_version()
    together = bought_together_for(product=product, limit=limit, version=version)
    similar = similar_to(product=product, limit=limit, version=version)
    return Related(
        bought_together=[row for row in together if row.other.is_active],
        similar=[row for row in similar if row.other.is_active],
    )


class AssociationFacts(Protocol):
    """What basket completion reads of an association row: a ProductAssociation, or its cached copy."""

    product_id: int
    other_id: int
    together: int
    product_orders: int
    lift: float


def completion_ranking(
    *, basket: Collection[int], associations: Sequence[AssociationFacts], vectors: Mapping[int, np.ndarray]
) -> list[tuple[AssociationFacts, float]]:
    """Every candidate of a basket, best first, with the association that produced it and its score.

    `associations` are the basket products' rows in rank order; a candidate keeps its strongest-lift row (the
    one its sentence quotes), scored by lift and, where the vectors allow, by its cosine to the basket's mean
    embedding. Shared by the basket page and the next-item API, which read the rows from different places.
    """
    rows = [association for association in associations if association.other_id not in basket]
    if not rows:
        return []
    other = np.fromiter((row.other_id for row in rows), dtype=np.int64, count=len(rows))
    lift = np.fromiter((row.lift for row in rows), dtype=np.float64, count=len(rows))
    # Each candidate's row: the highest lift, the earliest in rank order among equal ones (a lexsort by
    # candidate, then lift down, then position); the candidates in the order they first appear.
    by_strength = np.lexsort((np.arange(len(rows)), -lift, other))
    _, first_of_group = np.unique(other[by_strength], return_index=True)
    candidate_ids, first_seen = np.unique(other, return_index=True)
    appearance = np.argsort(first_seen, kind="stable")
    best = by_strength[first_of_group][appearance]
    candidate_ids = candidate_ids[appearance]
    best_lift = lift[best]
    scores = np.log1p(best_lift) / np.log1p(best_lift).max()
    basket_vectors = [vectors[pid] for pid in basket if pid in vectors]
    if basket_vectors:
        centre = np.mean(basket_vectors, axis=0)
        centre /= np.linalg.norm(centre) or 1.0
        # One product of matrices for all candidates with a vector; the others agree by 0.
        cosine = np.zeros(len(candidate_ids))
        with_vector = [index for index, pid in enumerate(candidate_ids.tolist()) if pid in vectors]
        if with_vector:
            matrix = np.stack([vectors[int(candidate_ids[index])] for index in with_vector])
            norms = np.linalg.norm(matrix, axis=1)
            cosine[with_vector] = (matrix @ centre) / np.where(norms > 0, norms, 1.0)
        scores = (1 - EMBEDDING_WEIGHT) * scores + EMBEDDING_WEIGHT * np.clip(cosine, 0.0, 1.0)
    order = np.argsort(-scores, kind="stable")
    rounded = np.round(scores[order], 6).tolist()
    return [(rows[row], score) for row, score in zip(best[order].tolist(), rounded, strict=True)]


def completion_reason(association: AssociationFacts) -> explanations.Reason:
    return explanations.bought_with_reason(
        anchor=association.product_id,
        together=association.together,
        anchor_orders=association.product_orders,
        lift=association.lift,
    )


def basket_completion(
    *, retailer: Retailer, product_ids: Sequence[int], limit: int = 5, version: ModelVersion | None = None
) -> list[Suggestion]:
    """Products to add to a live basket: association rows of the basket items, re-ranked by item embeddings.

    One indexed query for the association rows of the basket's products, one for the vectors of the basket and
    its candidates, then a cosine step over at most a few hundred rows. Every suggestion keeps the association
    that produced it, so its sentence states counted co-purchases only.
    """
    version_id = _version_id(version)
    basket = set(product_ids)
    if version_id is None or not basket:
        return []
    associations = list(
        ProductAssociation.objects.filter(model_version_id=version_id, product_id__in=basket)
        .exclude(other_id__in=basket)
        .select_related("product", "other", "other__vendor")
        .order_by("rank")
    )
    if not associations:
        return []
    vectors = {
        row.product_id: np.frombuffer(bytes(row.vector), dtype=np.float32)
        for row in ItemVector.objects.filter(
            model_version_id=version_id, product_id__in=[*basket, *{row.other_id for row in associations}]
        )
    }
    suggestions = []
    for association, score in completion_ranking(basket=basket, associations=associations, vectors=vectors)[
        :limit
    ]:
        reason = completion_reason(association)
        suggestions.append(
            Suggestion(
                product=association.other,
                score=score,
                reasons=[reason],
                explanation=explanations.sentence_for(
                    [reason],
                    product_names={association.product_id: association.product.name},
                    today=timezone.localdate(),
                ),
            )
        )
    return suggestions


def model_versions_for_admin() -> QuerySet[ModelVersion]:
    return ModelVersion.objects.order_by("-created_at", "-id")


def latest_training_run() -> TrainingRun | None:
    return TrainingRun.objects.order_by("-created_at", "-id").first()
