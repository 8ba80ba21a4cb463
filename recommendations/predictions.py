"""Next-item predictions for the mobile API and the retailer's prediction history.

The answer is basket completion (selectors.completion_order, shared with the basket page) over rows that
never change within a model version, so they are cached in Redis per (version, product): a product's
association rows as columns with its vector and the matrix of the vectors of the products they name (one
entry), plus the product's JSON (under the catalogue stamp, as prices and availability change), read for the
basket and for the best candidates only. A warm request reads them in three cache round trips and no query,
whatever the basket size, and ranks with array operations; only the answer's own candidates become Python
objects. The answer itself is kept per (version, day, basket, limit) under the catalogue stamp: a basket
asked again costs one round trip. A cold request or Redis down adds queries that each read the whole basket
or candidate set at once.

Neither the impressions nor the Prediction row are inserted on the request path: both are appended to Redis
lists in one pipelined round trip and written by the `flush_feedback` task (feedback.buffer_flush). The
history endpoint flushes the pending predictions first, so an answer just given is in it.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple

import numpy as np
import redis
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.cache.backends.redis import RedisSerializer
from django.db import DatabaseError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Retailer, User
from catalog.models import Product
from catalog.serializers import ProductSerializer
from catalog.stamp import CATALOGUE_STAMP_KEY, catalogue_stamp_current
from orders.selectors import basket_summary
from recommendations import explanations, feedback, selectors
from recommendations.dashboard import ReasonLine, reason_lines
from recommendations.models import ItemVector, ModelVersion, Prediction, ProductAssociation
from recommendations.selectors import completion_reasons

PREDICTIONS_QUEUE = "predictions"
MAX_PRODUCT_IDS = 100
MAX_LIMIT = 50
DEFAULT_LIMIT = 10
# A version's rows never change; a product's JSON is kept with the catalogue stamp it was made under and is
# read only while that stamp is current (any product, category or vendor change moves it on).
VERSION_ROWS_SECONDS = 24 * 60 * 60
PRODUCT_SECONDS = 60 * 60
# An answer lives for its day at most (its key names the day) and while the catalogue stamp it was made under
# is current; an hour bounds the memory of baskets asked once.
ANSWER_SECONDS = 60 * 60
# Candidates read beyond `limit`, so that a few discontinued ones do not cost another round trip.
CANDIDATE_MARGIN = 5
# The history endpoint writes at most this many pending batches before reading.
HISTORY_FLUSH_BATCHES = 4
HISTORY_FLUSH_WAIT_SECONDS = 2.0


# How Django's Redis cache encodes values, for the MGET that reads them directly.
_serializer = RedisSerializer()


class UnknownProducts(ValueError):
    """Some of the product ids asked about do not exist or are no longer sold."""

    def __init__(self, product_ids: Sequence[int]) -> None:
        self.product_ids = list(product_ids)
        super().__init__(f"Unknown or unavailable products: {', '.join(map(str, self.product_ids))}")


class CachedAssociation(NamedTuple):
    """The facts of one ProductAssociation that completion reads, as cached (a tuple in Redis); a named
    tuple, since a request makes one per association row of its basket (a hundred or so)."""

    product_id: int
    other_id: int
    together: int
    product_orders: int
    other_orders: int
    n_orders: int
    lift: float
    rank: int


ASSOCIATION_COLUMNS = CachedAssociation._fields


@dataclass(frozen=True)
class NextItem:
    rank: int
    product: dict[str, Any]
    score: float
    reasons: list[ReasonLine]
    sentence: str


@dataclass(frozen=True)
class NextItemAnswer:
    model_version: int | None
    basket: list[int]
    results: list[NextItem] = field(default_factory=list)


def _cache_get(keys: list[str]) -> dict[str, Any]:
    """The cached values of `keys` that exist. With Redis, one MGET on the cache's own connection: the cache
    API's per-key checks cost a request with a few dozen keys more than the round trip itself."""
    if not keys or feedback.redis_resting():
        return {}
    client = feedback.buffer_client()
    try:
        if client is None:
            return cache.get_many(keys)
        found = client.mget([cache.make_key(key) for key in keys])
    except (redis.RedisError, OSError) as error:
        feedback.buffer_failed(error)
        return {}
    return {key: _serializer.loads(raw) for key, raw in zip(keys, found, strict=True) if raw is not None}


def _cache_set(values: dict[str, Any], timeout: int) -> None:
    if not values or feedback.redis_resting():
        return
    try:
        cache.set_many(values, timeout)
    except (redis.RedisError, OSError) as error:
        feedback.buffer_failed(error)


# In the key: an entry of another layout (written by another release within a version's day) is not read.
COMPLETION_LAYOUT = 2


def _completion_key(version_id: int, product_id: int) -> str:
    return f"nextitem:completion:L{COMPLETION_LAYOUT}:{version_id}:{product_id}"


def _product_key(product_id: int) -> str:
    return f"nextitem:product:{product_id}"


def _answer_key(*, version_id: int, basket: Sequence[int], limit: int, today: date) -> str:
    # The basket in its order: among candidates of equal rank the basket's order decides.
    return f"nextitem:answer:{version_id}:{today.isoformat()}:{limit}:{','.join(map(str, basket))}"


# The integer columns of a cached entry, in this order (then `lift` on its own, a float).
_INTEGER_COLUMNS = ("other_id", "together", "product_orders", "other_orders", "n_orders", "rank")


@dataclass(frozen=True)
class Completion:
    """What completing a basket needs of one of its products, cached as one entry per (version, product): its
    association rows in rank order as columns (`integers` rows in the order of _INTEGER_COLUMNS, `lift`), its
    item vector, and the vectors of the products the rows name (`others[i]` where `has_vector[i]`)."""

    integers: np.ndarray
    lift: np.ndarray
    vector: bytes
    others: np.ndarray | None
    has_vector: np.ndarray

    def __len__(self) -> int:
        return len(self.lift)


def _products(
    product_ids: Sequence[int], cached: dict[str, Any], stamp: int | None
) -> dict[int, dict[str, Any]]:
    """Product JSON (ProductSerializer) by id, from the cache where it was made under the current catalogue
    `stamp`, the others in one query; unknown ids absent. Without a stamp (Redis unavailable) nothing is
    kept."""
    found = {}
    if stamp is not None:
        for pid in product_ids:
            entry = cached.get(_product_key(pid))
            if entry is not None and entry[0] == stamp:
                found[pid] = entry[1]
    missing = [pid for pid in product_ids if pid not in found]
    if missing:
        fresh = {
            product.pk: dict(ProductSerializer(product).data)
            for product in Product.objects.filter(pk__in=missing).select_related("vendor", "category")
        }
        if stamp is not None:
            _cache_set({_product_key(pid): (stamp, data) for pid, data in fresh.items()}, PRODUCT_SECONDS)
        found.update(fresh)
    return found


def _completion_of(rows: list[tuple], vector: bytes, vectors: dict[int, bytes]) -> Completion:
    """A product's entry from its ProductAssociation rows (ASSOCIATION_COLUMNS, in rank order)."""
    integers = np.array(
        [[row[ASSOCIATION_COLUMNS.index(name)] for row in rows] for name in _INTEGER_COLUMNS], dtype=np.int64
    ).reshape(len(_INTEGER_COLUMNS), len(rows))
    lift = np.array([row[ASSOCIATION_COLUMNS.index("lift")] for row in rows], dtype=np.float64)
    has_vector = np.array([row[1] in vectors for row in rows], dtype=bool)
    dimension = len(vector) // 4 or next((len(raw) // 4 for raw in vectors.values()), 0)
    others = None
    if dimension:
        others = np.zeros((len(rows), dimension), dtype=np.float32)
        for index, row in enumerate(rows):
            if has_vector[index]:
                others[index] = np.frombuffer(vectors[row[1]], dtype=np.float32)
    return Completion(integers, lift, vector, others, has_vector)


def _completions(
    version_id: int, product_ids: Sequence[int], cached: dict[str, Any]
) -> dict[int, Completion]:
    """Each product's completion entry from the cache; the misses in two queries (their rows, then the
    vectors of the products and of every product their rows name), then cached."""
    found = {
        pid: Completion(*cached[_completion_key(version_id, pid)])
        for pid in product_ids
        if _completion_key(version_id, pid) in cached
    }
    missing = [pid for pid in product_ids if pid not in found]
    if missing:
        rows: dict[int, list[tuple]] = {pid: [] for pid in missing}
        for row in (
            ProductAssociation.objects.filter(model_version_id=version_id, product_id__in=missing)
            .order_by("product_id", "rank")
            .values_list(*ASSOCIATION_COLUMNS)
        ):
            rows[row[0]].append(row)
        named = set(missing) | {row[1] for product_rows in rows.values() for row in product_rows}
        vectors = {
            product_id: bytes(vector)
            for product_id, vector in ItemVector.objects.filter(
                model_version_id=version_id, product_id__in=named
            ).values_list("product_id", "vector")
        }
        fresh = {pid: _completion_of(rows[pid], vectors.get(pid, b""), vectors) for pid in missing}
        _cache_set(
            {
                _completion_key(version_id, pid): (
                    entry.integers,
                    entry.lift,
                    entry.vector,
                    entry.others,
                    entry.has_vector,
                )
                for pid, entry in fresh.items()
            },
            VERSION_ROWS_SECONDS,
        )
        found.update(fresh)
    return found


def _basket_rows(
    basket: Sequence[int], completions: dict[int, Completion]
) -> tuple[selectors.CompletionRows, np.ndarray, np.ndarray]:
    """The basket's association rows, but those naming a basket product, in rank order (the basket's order
    among equal ranks, as the basket page's single query reads them), as columns; with each row's anchor
    product and rank."""
    entries = [completions[pid] for pid in basket]
    integers = np.concatenate([entry.integers for entry in entries], axis=1)
    lift = np.concatenate([entry.lift for entry in entries])
    anchor = np.repeat(np.asarray(basket, dtype=np.int64), [len(entry) for entry in entries])
    has_vector = np.concatenate([entry.has_vector for entry in entries])
    dimension = next((entry.others.shape[1] for entry in entries if entry.others is not None), 0)
    others = None
    if dimension:
        others = np.concatenate(
            [
                entry.others if entry.others is not None else np.zeros((len(entry), dimension), np.float32)
                for entry in entries
            ]
        )
    column = {name: integers[index] for index, name in enumerate(_INTEGER_COLUMNS)}
    kept = np.flatnonzero(~np.isin(column["other_id"], np.asarray(basket, dtype=np.int64)))
    kept = kept[np.argsort(column["rank"][kept], kind="stable")]
    rows = selectors.CompletionRows(
        other_id=column["other_id"][kept],
        lift=lift[kept],
        together=column["together"][kept].astype(np.float64),
        product_orders=column["product_orders"][kept].astype(np.float64),
        other_orders=column["other_orders"][kept].astype(np.float64),
        vectors=others[kept] if others is not None else None,
        has_vector=has_vector[kept],
    )
    return rows, anchor[kept], integers[:, kept]


def _association(anchor: np.ndarray, integers: np.ndarray, lift: np.ndarray, row: int) -> CachedAssociation:
    other_id, together, product_orders, other_orders, n_orders, rank = integers[:, row].tolist()
    return CachedAssociation(
        int(anchor[row]), other_id, together, product_orders, other_orders, n_orders, float(lift[row]), rank
    )


def _unique(product_ids: Sequence[int]) -> list[int]:
    return list(dict.fromkeys(product_ids))


def next_item_predict(
    *, retailer: Retailer, user: User | None, product_ids: Sequence[int] | None, limit: int
) -> NextItemAnswer:
    """What to add next to `product_ids` (the retailer's basket when None), best first, recorded in the
    prediction history with its impressions. Raises UnknownProducts for ids asked about that do not exist
    or are not sold any more (a basket's own lines are taken as they are)."""
    active = selectors.active_completion()
    version_id, weights = active if active is not None else (None, None)
    explicit = product_ids is not None
    asked = list(product_ids) if explicit else basket_summary(retailer=retailer).product_ids
    basket = _unique(asked)

    today = timezone.localdate()
    answer_key = (
        _answer_key(version_id=version_id, basket=basket, limit=limit, today=today) if version_id else None
    )
    found = _cache_get([CATALOGUE_STAMP_KEY, *([answer_key] if answer_key else [])])
    # The catalogue stamp (a new one if the cache lost it); None while Redis is unavailable.
    stamp = None if feedback.redis_resting() else catalogue_stamp_current(found.get(CATALOGUE_STAMP_KEY))
    # An answer is kept with the catalogue stamp it was made under: any product change (a price, a product
    # withdrawn) makes the next request answer anew. Only answers that passed the checks below are kept.
    kept = found.get(answer_key) if answer_key and stamp is not None else None
    if kept is not None and kept[0] == stamp:
        answer = NextItemAnswer(model_version=version_id, basket=asked, results=kept[1])
        _record(retailer=retailer, user=user, answer=answer)
        return answer
    # Otherwise the basket's entries, in a second round trip: a found answer needs none of them.
    cached = _cache_get(
        [_product_key(pid) for pid in basket]
        + ([_completion_key(version_id, pid) for pid in basket] if version_id else [])
    )
    products = _products(basket, cached, stamp)
    if explicit:
        unknown = [pid for pid in basket if not products.get(pid, {}).get("is_active")]
        if unknown:
            raise UnknownProducts(unknown)
    if version_id is None or not basket:
        answer = NextItemAnswer(model_version=version_id, basket=asked)
        _record(retailer=retailer, user=user, answer=answer)
        return answer

    completions = _completions(version_id, basket, cached)
    rows, anchors, integers = _basket_rows(basket, completions)
    basket_vectors = [
        np.frombuffer(completions[pid].vector, dtype=np.float32) for pid in basket if completions[pid].vector
    ]
    order = selectors.completion_order(rows=rows, basket_vectors=basket_vectors, weights=weights)

    names = {pid: data["name"] for pid, data in products.items()}
    results: list[NextItem] = []
    start = 0
    # The candidates' JSON is read for the best ones only, a few beyond `limit` in case some are no longer
    # sold, and more only if those run out.
    while len(results) < limit and start < len(order):
        chunk = range(start, min(start + limit + CANDIDATE_MARGIN, len(order)))
        start = chunk.stop
        picked = order.rows[chunk.start : chunk.stop].tolist()
        ids = rows.other_id[picked].tolist()
        products.update(_products(ids, _cache_get([_product_key(pid) for pid in ids]), stamp))
        names.update({pid: products[pid]["name"] for pid in ids if pid in products})
        for position, row in zip(chunk, picked, strict=True):
            product = products.get(int(rows.other_id[row]))
            if product is None or not product["is_active"]:
                continue
            completed = selectors.Completed(
                _association(anchors, integers, rows.lift, row),
                order.scores[position],
                order.shares[position].tolist(),
            )
            reasons = completion_reasons(completed, basket_size=len(basket))
            results.append(
                NextItem(
                    rank=len(results) + 1,
                    product=product,
                    score=completed.score,
                    reasons=reason_lines(reasons, names=names, today=today),
                    sentence=explanations.sentence_for(reasons, product_names=names, today=today),
                )
            )
            if len(results) == limit:
                break
    answer = NextItemAnswer(model_version=version_id, basket=asked, results=results)
    if stamp is not None:
        _cache_set({answer_key: (stamp, results)}, ANSWER_SECONDS)
    _record(retailer=retailer, user=user, answer=answer)
    return answer


def _record(*, retailer: Retailer, user: User | None, answer: NextItemAnswer) -> None:
    """Queue the answer for the history and its impressions in one round trip; written now without Redis."""
    now = timezone.now()
    impressions = [
        feedback.event_payload(
            retailer_id=retailer.pk,
            event=feedback.Event(
                product_id=item.product["id"],
                surface=feedback.Surface.BASKET,
                kind=feedback.Kind.IMPRESSION,
                model_version_id=answer.model_version,
            ),
            now=now,
        )
        for item in answer.results
    ]
    prediction = {
        "retailer_id": retailer.pk,
        "user_id": user.pk if user is not None else None,
        "model_version_id": answer.model_version,
        "kind": Prediction.Kind.NEXT_ITEM,
        "input_product_ids": answer.basket,
        "results": [
            {
                "rank": item.rank,
                "product_id": item.product["id"],
                "score": item.score,
                "sentence": item.sentence,
            }
            for item in answer.results
        ],
        "created_at": now.isoformat(),
    }
    if feedback.buffer_push({feedback.EVENTS_QUEUE: impressions, PREDICTIONS_QUEUE: [prediction]}):
        return
    try:
        with transaction.atomic():
            feedback.events_write(impressions)
            predictions_write([prediction])
    except DatabaseError as error:
        feedback.logger.warning("next-item prediction of retailer %s not recorded: %s", retailer.pk, error)


@transaction.atomic
def predictions_write(payloads: list[dict[str, Any]]) -> int:
    """Store buffered predictions in one INSERT; those of deleted retailers are dropped, a deleted user or
    version becomes null (the history keeps what was answered)."""
    rows = []
    for payload in payloads:
        try:
            created_at = datetime.fromisoformat(payload["created_at"])
            rows.append(
                Prediction(
                    retailer_id=int(payload["retailer_id"]),
                    user_id=payload.get("user_id"),
                    model_version_id=payload.get("model_version_id"),
                    kind=payload.get("kind") or Prediction.Kind.NEXT_ITEM,
                    input_product_ids=list(payload.get("input_product_ids") or []),
                    results=list(payload.get("results") or []),
                    created_at=created_at,
                )
            )
        except (KeyError, TypeError, ValueError):
            feedback.logger.error("Dropped an unreadable buffered prediction: %r", payload)
    if not rows:
        return 0
    retailers = set(
        Retailer.objects.filter(pk__in={row.retailer_id for row in rows}).values_list("pk", flat=True)
    )
    users = set(
        get_user_model()
        .objects.filter(pk__in={row.user_id for row in rows if row.user_id is not None})
        .values_list("pk", flat=True)
    )
    versions = set(
        ModelVersion.objects.filter(
            pk__in={row.model_version_id for row in rows if row.model_version_id is not None}
        ).values_list("pk", flat=True)
    )
    kept = []
    for row in rows:
        if row.retailer_id not in retailers:
            continue
        if row.user_id not in users:
            row.user_id = None
        if row.model_version_id not in versions:
            row.model_version_id = None
        kept.append(row)
    Prediction.objects.bulk_create(kept)
    return len(kept)


def predictions_flush(*, max_batches: int, wait_seconds: float = 0) -> int | None:
    """Write buffered predictions; None when Redis is unavailable or another flusher is busy."""
    return feedback.buffer_flush(
        queue=PREDICTIONS_QUEUE,
        writer=lambda payloads: predictions_write(payloads),
        max_batches=max_batches,
        wait_seconds=wait_seconds,
    )


def prediction_history(*, retailer: Retailer) -> QuerySet[Prediction]:
    """The retailer's predictions, newest first, including those answered a moment ago (flushed first)."""
    predictions_flush(max_batches=HISTORY_FLUSH_BATCHES, wait_seconds=HISTORY_FLUSH_WAIT_SECONDS)
    return Prediction.objects.filter(retailer=retailer).order_by("-created_at", "-id")
