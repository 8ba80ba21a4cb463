"""Each retailer's lists of one model version (for you, due, new for you) as one JSON document.

The API reads a retailer's recommendations with one cache round trip instead of a dozen queries: the document
is built once from the version's rows (three queries whatever the list sizes), stored in PostgreSQL
(RecommendationDocument) and cached in Redis under a key naming the version, so a new version never serves an
old version's lists. A retailer's refresh after an order rebuilds the document in the same transaction as the
rows it is built from. When Redis is down or hung (1 s socket timeouts) the document is read from
PostgreSQL: one indexed query, never an error.

Products in a document go stale when the catalogue changes (a price, a discontinued product). Every document
carries the catalogue stamp it was built under, a token in the cache bumped after any product, category or
vendor change (and after an import); the stamp is read with the document in the same round trip, and a
document of another stamp is rebuilt.

A document holds each item's structured reasons (dates and counts) and the product names they quote, never a
sentence: "last ordered 7 Nov, 15 days ago" depends on the day it is read, so each read puts the reasons into
words for that day (`document_lists`), string work over at most a few hundred reasons and no query.
"""

import logging
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

import redis
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from accounts.models import Retailer
from catalog.serializers import ProductSerializer
from catalog.stamp import CATALOGUE_STAMP_KEY, catalogue_stamp_current
from recommendations import dashboard, explanations, feedback
from recommendations.models import (
    ModelVersion,
    Recommendation,
    RecommendationDocument,
    ReorderPrediction,
    Surface,
)
from recommendations.serializers import DOCUMENT_LIMIT

logger = logging.getLogger(__name__)

# A document of a version nobody reads any more leaves the cache by itself.
CACHE_SECONDS = 24 * 60 * 60
# Inside the body, never shown by the API serializers: the catalogue stamp the products were read under.
STAMP_FIELD = "catalogue_stamp"
PRODUCT_JOINS = ("product__vendor", "product__category")
# Inside the body and each item, never shown as they are: the product names the reasons quote, and an item's
# reasons, put into words by each read.
NAMES_FIELD = "names"
REASONS_FIELD = "stored_reasons"


def cache_key(*, version_id: int, retailer_id: int) -> str:
    # "recdoc2": documents made before sentences were rendered on read hold no reasons to render.
    return f"recdoc2:v{version_id}:r{retailer_id}"


def generation_key(*, version_id: int, retailer_id: int) -> str:
    """The Redis key naming the cached document's generation (answers.py files rendered answers under it)."""
    return cache.make_key(f"recgen:v{version_id}:r{retailer_id}")


def generation_of(document: dict[str, Any]) -> str:
    """Which document this is: the catalogue stamp its products were read under (first, so answers.py's
    script can compare it with the current one) and when it was built."""
    return f"{document.get(STAMP_FIELD) or ''}|{document['generated_at']}"


def generation_record(*, version_id: int, retailer_id: int, document: dict[str, Any], replace: bool) -> None:
    """Record the generation of the document just cached, as plain text so answers.py's script can read it;
    `replace=False` writes only where none is recorded, as a cache `add` does (a document cached before
    generations were kept gets one at its next read). Redis only: without it nothing is rendered ahead."""
    client = feedback.buffer_client()
    if client is None:
        return
    key = generation_key(version_id=version_id, retailer_id=retailer_id)
    try:
        client.set(key, generation_of(document), ex=CACHE_SECONDS, nx=not replace)
    except (redis.RedisError, OSError) as error:
        feedback.buffer_failed(error)


def _cache_call(operation: Callable[[], Any], *, what: str) -> tuple[bool, Any]:
    """Run one cache operation; (False, None) when Redis is down or hung, which must never fail a request."""
    try:
        return True, operation()
    # Any client error (refused, timed out, a protocol error of a half-dead server) means "no cache".
    except Exception as error:
        logger.warning("cache %s failed, serving from PostgreSQL: %s", what, error)
        return False, None


# --- Building


# Products serialized by the documents built in one go, by id: a product is on many retailers' lists, and a
# ModelSerializer builds its fields anew for each instance (most of a document's cost).
ProductShapes = dict[int, dict[str, Any]]


def _product_shape(product: Any, shapes: ProductShapes | None) -> dict[str, Any]:
    if shapes is None:
        return dict(ProductSerializer(product).data)
    shape = shapes.get(product.pk)
    if shape is None:
        shape = shapes[product.pk] = dict(ProductSerializer(product).data)
    # Each document holds its own copy: a caller changing one item must not change another document.
    return dict(shape)


def card_item(card: dashboard.Card, *, shapes: ProductShapes | None = None) -> dict[str, Any]:
    # The product is made by the API's serializer once, here; the sentences by each read (`_rendered`).
    return {
        "rank": card.rank,
        "product": _product_shape(card.product, shapes),
        "score": float(card.score),
        "probability": card.probability,
        REASONS_FIELD: card.stored_reasons,
        "is_new_arrival": card.is_new_arrival,
    }


def _due_item(
    rank: int, row: ReorderPrediction, *, version: ModelVersion, shapes: ProductShapes | None
) -> dict[str, Any]:
    # A prediction stores its numbers, not a reason: the reason is restated from them with the same wording.
    reason = explanations.due_reason(cadence_days=row.cadence_days, last_ordered=row.last_ordered)
    reference = version.data_cutoff or timezone.now()
    return {
        "rank": rank,
        "product": _product_shape(row.product, shapes),
        "score": float(row.confidence),
        "probability": None,
        REASONS_FIELD: [reason],
        "is_new_arrival": dashboard.is_new_arrival(row.product, [], reference=reference),
        "expected_date": row.expected_date.isoformat(),
        "cadence_days": float(row.cadence_days),
        "last_ordered": row.last_ordered.isoformat(),
        "confidence": float(row.confidence),
        "suggested_quantity": row.suggested_quantity,
    }


def _rendered(item: dict[str, Any], *, names: dict[int, str], today: date) -> dict[str, Any]:
    """A stored item as the API's item serializers shape it, its sentences counted to `today`."""
    reasons = item[REASONS_FIELD]
    out = {key: value for key, value in item.items() if key != REASONS_FIELD}
    lines = dashboard.reason_lines(reasons, names=names, today=today)
    out["reasons"] = [
        {"kind": line.kind, "label": line.label, "sentence": line.sentence, "weight": line.weight}
        for line in lines
    ]
    # Each reason is put into words once: the item's sentence is made of the lines' own.
    out["sentence"] = explanations.strongest_sentence(
        [(line.kind, line.weight, line.sentence) for line in lines]
    )
    if "last_ordered" in item:
        out["days_since_last"] = explanations.days_since(
            date.fromisoformat(item["last_ordered"]), today=today
        )
    return out


def document_lists(
    document: dict[str, Any], *, names: Sequence[str], limit: int, today: date
) -> dict[str, list[dict[str, Any]]]:
    """The named lists of a document, `limit` long, put into words for `today`: no query."""
    quoted = {int(product_id): name for product_id, name in document[NAMES_FIELD].items()}
    return {
        name: [_rendered(item, names=quoted, today=today) for item in document[name][:limit]]
        for name in names
    }


def document_build(
    *, retailer_id: int, version: ModelVersion, stamp: str | None, shapes: ProductShapes | None = None
) -> dict[str, Any]:
    """The document from the version's rows: three queries (both recommendation surfaces, the due
    predictions, the product names the reasons quote), whatever the list sizes. `shapes` keeps the products
    serialized across the documents of one build (documents_build_all).

    The lists are chosen as the dashboard chooses them (dashboard.lists_from_rows): discontinued products
    are skipped and a product recommended "for you" is not repeated under "new for you".
    """
    rows = list(
        Recommendation.objects.filter(
            model_version=version,
            retailer_id=retailer_id,
            surface__in=[Surface.FOR_YOU, Surface.NEW_FOR_YOU],
        )
        .select_related(*PRODUCT_JOINS)
        .order_by("surface", "rank")
    )
    due = list(
        ReorderPrediction.objects.filter(model_version=version, retailer_id=retailer_id)
        .select_related(*PRODUCT_JOINS)
        .order_by("expected_date", "-confidence", "product_id")
    )
    lists = dashboard.lists_from_rows(
        version=version,
        for_you=[row for row in rows if row.surface == Surface.FOR_YOU],
        new_for_you=[row for row in rows if row.surface == Surface.NEW_FOR_YOU],
        due=due,
        new_for_you_limit=DOCUMENT_LIMIT,
        # Only the cards' reasons are kept (`_card_item`): each read puts them into words for its own day.
        today=timezone.localdate(),
    )
    return {
        "model_version": version.pk,
        "generated_at": timezone.now().isoformat(),
        "for_you": [card_item(card, shapes=shapes) for card in lists.for_you[:DOCUMENT_LIMIT]],
        "due": [
            _due_item(rank, row, version=version, shapes=shapes)
            for rank, row in enumerate(lists.due[:DOCUMENT_LIMIT], start=1)
        ],
        "new_for_you": [card_item(card, shapes=shapes) for card in lists.new_for_you],
        # JSON keys are strings: ids are restored by the read.
        NAMES_FIELD: {str(product_id): name for product_id, name in lists.names.items()},
        STAMP_FIELD: stamp,
    }


def _stored(*, retailer_id: int, version: ModelVersion, body: dict[str, Any], replace: bool) -> None:
    """Upsert the document row. A reader filling a gap does not overwrite a row written meanwhile (by a
    refresh, whose rows are newer than the ones the reader saw); a refresh or a stale stamp replaces it."""
    row = RecommendationDocument(
        model_version=version, retailer_id=retailer_id, body=body, built_at=timezone.now()
    )
    if replace:
        RecommendationDocument.objects.bulk_create(
            [row],
            update_conflicts=True,
            unique_fields=["model_version", "retailer"],
            update_fields=["body", "built_at"],
        )
    else:
        RecommendationDocument.objects.bulk_create([row], ignore_conflicts=True)


# --- Reading


def document_for(*, retailer: Retailer, version: ModelVersion) -> dict[str, Any]:
    """The retailer's document of `version`: one cache round trip when cached under the current stamp;
    otherwise the PostgreSQL row (one query), built from the rows when missing or stale."""
    retailer_id = retailer.pk
    key = cache_key(version_id=version.pk, retailer_id=retailer_id)
    ok, found = _cache_call(lambda: cache.get_many([key, CATALOGUE_STAMP_KEY]), what="document read")
    if not ok:
        # Redis down: the stored document as it is (its stamp cannot be checked), built only if missing.
        return _document_from_db(retailer_id=retailer_id, version=version, stamp=None, check_stamp=False)
    cached = found.get(key)
    stamp = catalogue_stamp_current(found.get(CATALOGUE_STAMP_KEY))
    if cached is not None and cached.get(STAMP_FIELD) == stamp:
        return cached
    body = _document_from_db(retailer_id=retailer_id, version=version, stamp=stamp, check_stamp=True)
    if cached is None:
        # add, not set: a refresh that committed meanwhile has cached its newer document.
        ok, added = _cache_call(lambda: cache.add(key, body, CACHE_SECONDS), what="document write")
        if ok and added:
            generation_record(version_id=version.pk, retailer_id=retailer_id, document=body, replace=False)
    else:
        ok, _ = _cache_call(lambda: cache.set(key, body, CACHE_SECONDS), what="document write")
        if ok:
            generation_record(version_id=version.pk, retailer_id=retailer_id, document=body, replace=True)
    return body


def _document_from_db(
    *, retailer_id: int, version: ModelVersion, stamp: str | None, check_stamp: bool
) -> dict[str, Any]:
    body = (
        RecommendationDocument.objects.filter(model_version=version, retailer_id=retailer_id)
        .values_list("body", flat=True)
        .first()
    )
    if body is not None and (not check_stamp or body.get(STAMP_FIELD) == stamp):
        return body
    fresh = document_build(retailer_id=retailer_id, version=version, stamp=stamp)
    _stored(retailer_id=retailer_id, version=version, body=fresh, replace=body is not None)
    return fresh


# --- Invalidation


def document_rebuild(*, retailer_id: int, version: ModelVersion) -> dict[str, Any]:
    """Rebuild after the retailer's rows changed (the refresh after an order), in the caller's transaction;
    the cache takes the new document once that transaction has committed."""
    ok, stamp = _cache_call(lambda: cache.get(CATALOGUE_STAMP_KEY), what="catalogue stamp")
    body = document_build(retailer_id=retailer_id, version=version, stamp=stamp if ok else None)
    _stored(retailer_id=retailer_id, version=version, body=body, replace=True)
    key = cache_key(version_id=version.pk, retailer_id=retailer_id)

    def publish() -> None:
        ok, _ = _cache_call(lambda: cache.set(key, body, CACHE_SECONDS), what="document write")
        if ok:
            generation_record(version_id=version.pk, retailer_id=retailer_id, document=body, replace=True)
        else:
            # One more try, to drop it: the old document must not outlive the rows it was built from.
            document_invalidate(retailer_id=retailer_id, version_id=version.pk)

    transaction.on_commit(publish)
    return body


def document_invalidate(*, retailer_id: int, version_id: int) -> None:
    """Forget the cached document; the next read takes the stored one (or builds it)."""
    key = cache_key(version_id=version_id, retailer_id=retailer_id)
    _cache_call(lambda: cache.delete(key), what="document invalidation")
    client = feedback.buffer_client()
    if client is not None:
        try:
            client.delete(generation_key(version_id=version_id, retailer_id=retailer_id))
        except (redis.RedisError, OSError) as error:
            feedback.buffer_failed(error)


def documents_build_all(*, version: ModelVersion, retailer_ids: list[int]) -> int:
    """Store the documents of a freshly precomputed version, so that its first requests read a stored
    document (one query, then cached) instead of building one each; returns how many were written."""
    ok, stamp = _cache_call(lambda: cache.get(CATALOGUE_STAMP_KEY), what="catalogue stamp")
    shapes: ProductShapes = {}
    for retailer_id in retailer_ids:
        body = document_build(
            retailer_id=retailer_id, version=version, stamp=stamp if ok else None, shapes=shapes
        )
        _stored(retailer_id=retailer_id, version=version, body=body, replace=True)
    return len(retailer_ids)
