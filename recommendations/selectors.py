"""Reads of precomputed recommendation rows; every function reads the active version only.

Each selector resolves the active version once and filters by its id, so one call never mixes rows of two
versions while a new version is being published. A page that calls several selectors passes the same
`version` (from `active_version()`) to each, so the whole request reads one version.
"""

import functools
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np
from django.db import connection
from django.db.models import QuerySet
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from accounts.models import Retailer
from catalog.models import Product
from recommendations import explanations
from recommendations.feedback import Event, Kind, Surface
from recommendations.ml.completion import LEGACY_WEIGHTS, SIGNALS, combine
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
        _completion_weights.cache_clear()


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
    other_orders: int
    n_orders: int
    lift: float


@dataclass(frozen=True)
class CompletionWeights:
    """A version's basket completion blend (ml/completion.py's signals), as its training chose it on
    validation completion cases, with the order count popularity is divided by."""

    weights: Mapping[str, float]
    top_orders: int

    @classmethod
    def of(cls, parameters: Mapping[str, Any]) -> "CompletionWeights":
        """From a version's `parameters`; a version trained before completion had its own weights ranks by
        lift and embedding cosine, half each, as it did then."""
        stored = parameters.get("completion") or {}
        return cls(stored.get("weights") or LEGACY_WEIGHTS, int(stored.get("top_orders") or 0))


@functools.lru_cache(maxsize=8)
def _completion_weights(version_id: int) -> "CompletionWeights":
    # A version's parameters are written when it is trained; each process reads them once per version.
    parameters = ModelVersion.objects.filter(pk=version_id).values_list("parameters", flat=True).first()
    return CompletionWeights.of(parameters or {})


def active_completion() -> tuple[int, CompletionWeights] | None:
    """The active version's id and completion weights; with warm caches no query (the id comes from
    `active_version_id`, the weights are read once per version and process)."""
    version_id = active_version_id()
    if version_id is None:
        return None
    return version_id, _completion_weights(version_id)


class Completed(NamedTuple):
    """A ranked candidate: the association row its sentence quotes, its score and each signal's share of it
    (a list in the order of ml/completion.py's SIGNALS: a request makes one per candidate)."""

    association: AssociationFacts
    score: float
    shares: list[float]

    def share(self, signal: str) -> float:
        return self.shares[SIGNALS.index(signal)]


@dataclass(frozen=True)
class CompletionRows:
    """A basket's association rows as columns (one entry per row), in rank order, the basket's order among
    equal ranks; `vectors[i]` is the item vector of row i's candidate where `has_vector[i]`."""

    other_id: np.ndarray
    lift: np.ndarray
    together: np.ndarray
    product_orders: np.ndarray
    other_orders: np.ndarray
    vectors: np.ndarray | None
    has_vector: np.ndarray


@dataclass(frozen=True)
class CompletionOrder:
    """Candidates best first: the row each one keeps (an index into the CompletionRows), its score rounded
    as the answers show it, and each signal's share of it (columns in the order of SIGNALS)."""

    rows: np.ndarray
    scores: list[float]
    shares: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)


def completion_order(
    *, rows: CompletionRows, basket_vectors: Sequence[np.ndarray], weights: CompletionWeights
) -> CompletionOrder:
    """Every candidate of the rows (none of them in the basket), best first, in array operations only.

    A candidate keeps its strongest-lift row (the one its sentence quotes) and is scored by the version's
    completion `weights` over the signals of ml/completion.py: its confidences summed over the basket, its
    best lift, its cosine to the basket's mean embedding where the vectors allow, and its popularity (orders
    holding it).
    """
    other, lift = rows.other_id, rows.lift
    if not len(other):
        return CompletionOrder(np.zeros(0, dtype=np.int64), [], np.zeros((0, len(SIGNALS))))
    confidence = rows.together / np.maximum(rows.product_orders, 1)
    # Each candidate's row: the highest lift, the earliest in rank order among equal ones (a lexsort by
    # candidate, then lift down, then position); the candidates in the order they first appear.
    by_strength = np.lexsort((np.arange(len(other)), -lift, other))
    _, first_of_group = np.unique(other[by_strength], return_index=True)
    candidate_ids, first_seen, group = np.unique(other, return_index=True, return_inverse=True)
    appearance = np.argsort(first_seen, kind="stable")
    best = by_strength[first_of_group][appearance]
    association = np.bincount(group, weights=confidence, minlength=len(candidate_ids))[appearance]
    cosine = np.zeros(len(best))
    if basket_vectors and rows.vectors is not None:
        # In float64: float32 products differ in the last bits with the arrays' memory alignment, and the
        # basket page and the next-item API must round to the same scores.
        centre = np.mean(np.asarray(basket_vectors, dtype=np.float64), axis=0)
        centre /= np.linalg.norm(centre) or 1.0
        # One product of matrices for all candidates with a vector; the others agree by 0.
        with_vector = rows.has_vector[best]
        if with_vector.any():
            matrix = rows.vectors[best[with_vector]].astype(np.float64)
            norms = np.linalg.norm(matrix, axis=1)
            cosine[with_vector] = (matrix @ centre) / np.where(norms > 0, norms, 1.0)
    scores, contributions = combine(
        weights.weights,
        association=association,
        lift=np.log1p(lift[best]),
        embedding=cosine,
        popularity=rows.other_orders[best] / max(weights.top_orders, 1),
    )
    order = np.argsort(-scores, kind="stable")
    absent = np.zeros(len(scores))
    total = np.where(scores > 0, scores, 1.0)
    shares = np.stack([contributions.get(name, absent) for name in SIGNALS], axis=1) / total[:, None]
    return CompletionOrder(best[order], np.round(scores[order], 6).tolist(), shares[order])


def completion_ranking(
    *,
    basket: Collection[int],
    associations: Sequence[AssociationFacts],
    vectors: Mapping[int, np.ndarray],
    weights: CompletionWeights,
) -> list[Completed]:
    """Every candidate of a basket, best first, with the association that produced it, its score and shares
    (`completion_order` over these rows).

    `associations` are the basket products' rows in rank order, as the basket page reads them; `vectors` the
    item vectors of the basket and of the candidates.
    """
    kept = [association for association in associations if association.other_id not in basket]
    if not kept:
        return []
    count = len(kept)

    def column(name: str, dtype: type) -> np.ndarray:
        return np.fromiter((getattr(row, name) for row in kept), dtype=dtype, count=count)

    other = column("other_id", np.int64)
    has_vector = np.fromiter((pid in vectors for pid in other.tolist()), dtype=bool, count=count)
    dimension = next((len(vector) for vector in vectors.values()), 0)
    matrix = np.zeros((count, dimension), dtype=np.float32) if dimension else None
    if matrix is not None and has_vector.any():
        matrix[has_vector] = np.stack([vectors[pid] for pid in other[has_vector].tolist()])
    rows = CompletionRows(
        other_id=other,
        lift=column("lift", np.float64),
        together=column("together", np.float64),
        product_orders=column("product_orders", np.float64),
        other_orders=column("other_orders", np.float64),
        vectors=matrix,
        has_vector=has_vector,
    )
    order = completion_order(
        rows=rows, basket_vectors=[vectors[pid] for pid in basket if pid in vectors], weights=weights
    )
    return [
        Completed(kept[row], score, share)
        for row, score, share in zip(order.rows.tolist(), order.scores, order.shares.tolist(), strict=True)
    ]


def completion_reasons(completed: Completed, *, basket_size: int) -> list[explanations.Reason]:
    """A suggestion's reasons: first the co-purchase its association row counts (every candidate comes from
    one), weighted by the association signals' share of its score; then popularity and the basket's embedding
    where their share of the score is visible, each stating only what its row or the basket holds."""
    association = completed.association
    reason = explanations.bought_with_reason(
        anchor=association.product_id,
        together=association.together,
        anchor_orders=association.product_orders,
        lift=association.lift,
    )
    reasons = [reason | {"weight": round(completed.share("association") + completed.share("lift"), 4)}]
    others = [
        (
            completed.share("popularity"),
            explanations.in_orders_reason(orders=association.other_orders, n_orders=association.n_orders),
        ),
        (completed.share("embedding"), explanations.basket_fit_reason(basket_size=basket_size)),
    ]
    for share, other in sorted(others, key=lambda item: -item[0]):
        if round(share, 4) > 0:
            reasons.append(other | {"weight": round(share, 4)})
    return reasons


def basket_completion(
    *, retailer: Retailer, product_ids: Sequence[int], limit: int = 5, version: ModelVersion | None = None
) -> list[Suggestion]:
    """Products to add to a live basket: association rows of the basket items, ranked by the version's
    completion weights (`completion_ranking`).

    One indexed query for the association rows of the basket's products, one for the vectors of the basket and
    its candidates, then array operations over at most a few hundred rows. Every suggestion keeps the
    association that produced it, so its sentence starts with counted co-purchases.
    """
    basket = set(product_ids)
    if version is not None:
        found: tuple[int, CompletionWeights] | None = (version.pk, CompletionWeights.of(version.parameters))
    else:
        found = active_completion()
    if found is None or not basket:
        return []
    version_id, weights = found
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
    ranking = completion_ranking(basket=basket, associations=associations, vectors=vectors, weights=weights)
    suggestions = []
    for completed in ranking[:limit]:
        association = completed.association
        reasons = completion_reasons(completed, basket_size=len(basket))
        suggestions.append(
            Suggestion(
                product=association.other,
                score=completed.score,
                reasons=reasons,
                explanation=explanations.sentence_for(
                    reasons,
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
