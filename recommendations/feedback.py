"""What retailers did with the recommendations they were shown: impressions, clicks and adds to the basket.

Every recommendation surface records its events here, tagged with the model version that produced the row,
so staff can compare versions and surfaces (see admin_feedback.py). Recording is one bulk INSERT per page
render or per form post, so it never slows a page noticeably.

Clicks and adds arrive as `src`/`mv` fields of a request, which anybody can forge. One counts only when the
product was shown to that retailer by that version on that surface within the last TAKEN_WITHIN_DAYS days
(an impression event exists: the same window in which the suggestion history calls a suggestion taken), and
only once per retailer, product, surface, version and day: a partial unique index on `day` enforces that,
and inserts skip the rows it refuses, so concurrent requests cannot double count.

The API records its events without an INSERT on the request path: `events_buffer` appends them to a Redis
list in one RPUSH and the `flush_feedback` task (every 10 s) writes them in batches (`feedback_flush`). A
batch is moved atomically into a processing list before it is written and deleted from there only after the
commit, so a worker killed in between loses nothing: the next flush writes the processing list first. The
price is at-least-once delivery: a crash after the commit and before the delete writes that batch again
(impressions twice; clicks and adds stay single, the unique index refuses the copies). Without Redis (no
REDIS_URL: the embedded demo; or Redis down or hung) the events are written synchronously, by the same code.
"""

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis
from django.core.cache import cache
from django.core.cache.backends.redis import RedisCache
from django.core.paginator import Page, Paginator
from django.db import DatabaseError, connection, transaction
from django.db.models import CharField, Count, Min, Q, QuerySet, Value
from django.db.models.functions import Concat, TruncDate
from django.utils import timezone

from accounts.models import Retailer
from catalog.models import Product
from orders.models import Order, OrderLine
from recommendations.models import ModelVersion, RecommendationEvent

logger = logging.getLogger(__name__)

Surface = RecommendationEvent.EventSurface
Kind = RecommendationEvent.Kind
# The kinds the database stores at most once per retailer, product, surface, version and day.
FEEDBACK_KINDS = (Kind.CLICK, Kind.ADD)

# A suggestion counts as taken when the product was added or ordered within this many days of being shown.
TAKEN_WITHIN_DAYS = 14


@dataclass(frozen=True)
class Tracking:
    """Which surface (and which model version) a click or an add came from; travels in `src`/`mv` fields."""

    surface: str
    model_version_id: int | None


@dataclass(frozen=True)
class Event:
    product_id: int
    surface: str
    kind: str
    model_version_id: int | None
    # When it happened, if not now (the app's own clock for events it posts in a batch).
    occurred_at: datetime | None = None


def tracking_from_data(data: Mapping[str, str]) -> Tracking | None:
    """Read `src` and `mv` from a query string or a posted form; anything unrecognised means "not tracked".

    Tracking fields are hints added by our own templates: a tampered or stale value must never make the
    retailer's action (adding to the basket, opening a product) fail, so it is dropped instead.
    """
    surface = data.get("src", "")
    if surface not in Surface.values:
        return None
    raw_version = data.get("mv", "")
    model_version_id = int(raw_version) if raw_version.isdigit() else None
    return Tracking(surface=surface, model_version_id=model_version_id)


@transaction.atomic
def events_record(*, retailer: Retailer, events: Iterable[Event]) -> int:
    """Store a batch of events in one INSERT; returns how many were offered.

    The events come from rows the caller has just read, so their product and version ids exist; ids taken from
    a request go through `event_record_tracked`, which checks them. A click or an add already stored for the
    same product, surface, version and day is skipped by the database (ON CONFLICT DO NOTHING).
    """
    now = timezone.now()
    rows = [
        RecommendationEvent(
            retailer=retailer,
            product_id=event.product_id,
            model_version_id=event.model_version_id,
            surface=event.surface,
            kind=event.kind,
            day=timezone.localdate(now),
        )
        for event in events
    ]
    for row in rows:
        if row.surface not in Surface.values or row.kind not in Kind.values:
            raise ValueError(f"Unknown recommendation event {row.surface!r}/{row.kind!r}")
    RecommendationEvent.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def _was_shown(*, retailer: Retailer, product: Product, tracking: Tracking, since: datetime) -> bool:
    return RecommendationEvent.objects.filter(
        retailer=retailer,
        product=product,
        surface=tracking.surface,
        model_version_id=tracking.model_version_id,
        kind=Kind.IMPRESSION,
        created_at__gte=since,
    ).exists()


def _feedback_recorded_today(*, retailer: Retailer, product: Product, tracking: Tracking, kind: str) -> bool:
    return RecommendationEvent.objects.filter(
        retailer=retailer,
        product=product,
        surface=tracking.surface,
        model_version_id=tracking.model_version_id,
        kind=kind,
        day=timezone.localdate(),
    ).exists()


def event_record_tracked(*, retailer: Retailer, product: Product, kind: str, data: Mapping[str, str]) -> bool:
    """Record one click or add if the request's tracking fields name a suggestion this retailer was shown;
    returns whether it was recorded now.

    The one-liner for any view that adds to the basket or opens a product from a recommendation surface. It
    never raises for a database error: the retailer's action has already happened and must not fail because
    its feedback could not be stored. The returned flag comes from a check made before the insert; two
    exactly simultaneous requests may both see True, while the unique index stores one row.
    """
    if kind not in FEEDBACK_KINDS:
        raise ValueError(f"Only clicks and adds are tracked from a request, not {kind!r}")
    tracking = tracking_from_data(data)
    # Without a version there is no impression to check the claim against.
    if tracking is None or tracking.model_version_id is None:
        return False
    since = timezone.now() - timedelta(days=TAKEN_WITHIN_DAYS)
    try:
        with transaction.atomic():
            if not _was_shown(retailer=retailer, product=product, tracking=tracking, since=since):
                return False
            if _feedback_recorded_today(retailer=retailer, product=product, tracking=tracking, kind=kind):
                return False
            event = Event(
                product_id=product.pk,
                surface=tracking.surface,
                kind=kind,
                model_version_id=tracking.model_version_id,
            )
            events_record(retailer=retailer, events=[event])
    except DatabaseError as error:
        logger.warning("feedback %s of product %s not recorded: %s", kind, product.pk, error)
        return False
    return True


# --- Buffered recording (the API): one RPUSH on the request path, batches written by `flush_feedback`.

EVENTS_QUEUE = "events"
# Pushes a flush writes per INSERT (one push is one request's payloads, a few dozen rows), and how long a
# flusher may hold a queue (longer than the task's limit).
FLUSH_BATCH_SIZE = 50
FLUSH_LOCK_SECONDS = 120
# After Redis failed, requests write synchronously for this long instead of waiting on it again.
REDIS_RETRY_SECONDS = 5.0
_redis_down_until = 0.0

# Moves up to ARGV[1] items from the head of the queue to the tail of the processing list, atomically.
_POP_SCRIPT = """
local items = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #items > 0 then
  redis.call('LTRIM', KEYS[1], #items, -1)
  redis.call('RPUSH', KEYS[2], unpack(items))
end
return items
"""

Payload = dict[str, Any]


def buffer_client() -> redis.Redis | None:
    """The cache's Redis connection (pooled, 1 s socket timeouts), or None when there is nothing to buffer in:
    no Redis configured (the locmem demo) or Redis failed a moment ago."""
    from django.core.cache import caches

    backend = caches["default"]
    if not isinstance(backend, RedisCache) or time.monotonic() < _redis_down_until:
        return None
    return backend._cache.get_client(write=True)


def redis_resting() -> bool:
    """Whether Redis failed in the last few seconds, so readers should go straight to PostgreSQL."""
    return time.monotonic() < _redis_down_until


def buffer_failed(error: Exception) -> None:
    """Remember that Redis failed, so the next requests do not each wait a socket timeout on it."""
    global _redis_down_until
    _redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
    logger.warning("Redis unavailable for buffered writes, writing synchronously: %s", error)


def buffer_key(queue: str, part: str = "queue") -> str:
    return cache.make_key(f"buffer:{queue}:{part}")


def buffer_push(pushes: Mapping[str, list[Payload]]) -> bool:
    """Append payloads to their queues in one round trip; False when Redis is absent or failed (the caller
    then writes them synchronously, so nothing is lost)."""
    client = buffer_client()
    if client is None:
        return False
    pipeline = client.pipeline(transaction=False)
    for queue, payloads in pushes.items():
        if payloads:
            # One item per request, however many payloads: encoding and pushing 60 impressions one by one
            # costs a recommendation read more than all its other work.
            pipeline.rpush(buffer_key(queue), json.dumps(payloads))
    try:
        pipeline.execute()
    except (redis.RedisError, OSError) as error:
        buffer_failed(error)
        return False
    return True


def buffer_flush(
    *, queue: str, writer: Callable[[list[Payload]], int], max_batches: int, wait_seconds: float = 0
) -> int | None:
    """Write up to `max_batches` batches of a queue with `writer`; returns the rows written, or None when
    Redis is unavailable or another flusher holds the queue (for longer than `wait_seconds`).

    One flusher per queue at a time (a Redis lock), so the processing list is its own: a list left there by
    a flusher that died is written first. A writer that raises leaves its batch in the processing list.
    """
    client = buffer_client()
    if client is None:
        return None
    source, processing = buffer_key(queue), buffer_key(queue, "processing")
    written = 0
    try:
        lock = client.lock(
            buffer_key(queue, "lock"), timeout=FLUSH_LOCK_SECONDS, blocking_timeout=wait_seconds
        )
        if not lock.acquire(blocking=wait_seconds > 0):
            return None
        try:
            pop = client.register_script(_POP_SCRIPT)
            left_over = client.lrange(processing, 0, -1)
            batches = 0
            while batches < max_batches:
                raw = left_over or pop(keys=[source, processing], args=[FLUSH_BATCH_SIZE])
                left_over = []
                if not raw:
                    break
                written += writer(_decode(raw))
                # Only after the writer's commit: a crash before this line writes the batch again.
                client.delete(processing)
                batches += 1
        finally:
            lock.release()
    except (redis.RedisError, OSError) as error:
        buffer_failed(error)
        return None
    return written


def _decode(raw: list[bytes]) -> list[Payload]:
    """The payloads of a batch of pushes: each push is a JSON list of payloads (a single payload object is
    a push from before the lists, still queued across an upgrade)."""
    payloads = []
    for item in raw:
        try:
            push = json.loads(item)
        except ValueError:
            logger.error("Dropped an unreadable buffered payload: %r", item[:200])
            continue
        for payload in push if isinstance(push, list) else [push]:
            if isinstance(payload, dict):
                payloads.append(payload)
    return payloads


def event_payload(*, retailer_id: int, event: Event, now: datetime) -> Payload:
    return {
        "retailer_id": retailer_id,
        "product_id": event.product_id,
        "surface": event.surface,
        "kind": event.kind,
        "model_version_id": event.model_version_id,
        "created_at": (event.occurred_at or now).isoformat(),
    }


# Where a pre-encoded buffer item leaves the time of the events for each read to fill in.
NOW_PLACEHOLDER = "@now@"


def events_encoded(*, retailer_id: int, events: Iterable[Event]) -> str:
    """The buffer item of `events` (as `buffer_push` would encode it) with NOW_PLACEHOLDER for their time:
    an answer served from a cache (recommendations/answers.py) records its impressions without encoding
    them at each read."""
    now = timezone.now()
    return json.dumps(
        [
            {**event_payload(retailer_id=retailer_id, event=event, now=now), "created_at": NOW_PLACEHOLDER}
            for event in events
        ]
    )


def events_buffer(*, retailer_id: int, events: Iterable[Event]) -> int:
    """Queue events for the next flush in one RPUSH (no INSERT on the request path); returns how many.

    Clicks and adds are checked when written, against the impressions stored by then (those of the same
    batch included): only a product shown on that surface by that version in the last TAKEN_WITHIN_DAYS days
    counts, at most once a day. Without Redis the same rules run synchronously.
    """
    now = timezone.now()
    payloads = [event_payload(retailer_id=retailer_id, event=event, now=now) for event in events]
    if not payloads:
        return 0
    if not buffer_push({EVENTS_QUEUE: payloads}):
        try:
            events_write(payloads)
        except DatabaseError as error:
            logger.warning("%s feedback events not recorded: %s", len(payloads), error)
    return len(payloads)


def _parse_event(payload: Payload) -> tuple[int, int, int | None, str, str, datetime] | None:
    try:
        created_at = datetime.fromisoformat(payload["created_at"])
        version = payload.get("model_version_id")
        row = (
            int(payload["retailer_id"]),
            int(payload["product_id"]),
            None if version is None else int(version),
            str(payload["surface"]),
            str(payload["kind"]),
            created_at if timezone.is_aware(created_at) else timezone.make_aware(created_at),
        )
    except (KeyError, TypeError, ValueError):
        return None
    if row[3] not in Surface.values or row[4] not in Kind.values:
        return None
    return row


@transaction.atomic
def events_write(payloads: list[Payload]) -> int:
    """Write buffered events with the rules of `events_record` and `event_record_tracked`; returns the rows
    stored. Rows naming a retailer, product or version that no longer exists are dropped, not fatal: a batch
    that failed would otherwise be retried for ever."""
    rows = [row for row in map(_parse_event, payloads) if row is not None]
    if not rows:
        return 0
    retailers = set(Retailer.objects.filter(pk__in={row[0] for row in rows}).values_list("pk", flat=True))
    products = set(Product.objects.filter(pk__in={row[1] for row in rows}).values_list("pk", flat=True))
    versions = set(
        ModelVersion.objects.filter(pk__in={row[2] for row in rows if row[2] is not None}).values_list(
            "pk", flat=True
        )
    )
    known = [
        row
        for row in rows
        if row[0] in retailers and row[1] in products and (row[2] is None or row[2] in versions)
    ]
    impressions = [row for row in known if row[4] == Kind.IMPRESSION]
    stored = _events_insert(impressions)
    # A click or an add needs a version and an impression of it (this batch's are stored by now).
    claims = [row for row in known if row[4] != Kind.IMPRESSION and row[2] is not None]
    if claims:
        earliest = min(row[5] for row in claims) - timedelta(days=TAKEN_WITHIN_DAYS)
        shown: dict[tuple, datetime] = {}
        for *key, created_at in RecommendationEvent.objects.filter(
            kind=Kind.IMPRESSION,
            retailer_id__in={row[0] for row in claims},
            product_id__in={row[1] for row in claims},
            created_at__gte=earliest,
        ).values_list("retailer_id", "product_id", "surface", "model_version_id", "created_at"):
            shown[tuple(key)] = max(created_at, shown.get(tuple(key), created_at))
        taken = [
            row
            for row in claims
            if (last := shown.get((row[0], row[1], row[3], row[2]))) is not None
            and last >= row[5] - timedelta(days=TAKEN_WITHIN_DAYS)
        ]
        stored += _events_insert(taken)
    return stored


def _events_insert(rows: list[tuple[int, int, int | None, str, str, datetime]]) -> int:
    """One INSERT of many rows keeping their own `created_at` (the ORM would stamp the flush time), skipping
    those the one-feedback-a-day index refuses."""
    if not rows:
        return 0
    table = connection.ops.quote_name(RecommendationEvent._meta.db_table)
    columns = "retailer_id, product_id, model_version_id, surface, kind, created_at, day"
    values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(rows))
    params: list[Any] = []
    for retailer_id, product_id, version_id, surface, kind, created_at in rows:
        params += [
            retailer_id,
            product_id,
            version_id,
            surface,
            kind,
            connection.ops.adapt_datetimefield_value(created_at),
            connection.ops.adapt_datefield_value(timezone.localdate(created_at)),
        ]
    # Only placeholders and our own table and column names go into the statement.
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({columns}) VALUES {values} ON CONFLICT DO NOTHING", params)
        return max(cursor.rowcount, 0)


# How far an app's clock may run ahead of ours before its event is refused as "in the future".
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Rejection:
    index: int
    reason: str


@dataclass(frozen=True)
class BatchOutcome:
    accepted: int
    rejected: list[Rejection]


def feedback_batch_accept(*, retailer: Retailer, events: list[Mapping[str, Any]]) -> BatchOutcome:
    """Queue the events an app posts (validated fields: kind, product_id, surface, model_version,
    occurred_at); refuse those that name an unknown product or version, that are not datable, or that are a
    click or an add without the version that showed it (nothing to check the claim against). Whether a click
    or an add counts is decided when it is written, by the rules of `event_record_tracked`."""
    product_ids = {event["product_id"] for event in events}
    version_ids = {event["model_version"] for event in events if event.get("model_version") is not None}
    products = set(Product.objects.filter(pk__in=product_ids).values_list("pk", flat=True))
    versions = set(ModelVersion.objects.filter(pk__in=version_ids).values_list("pk", flat=True))
    now = timezone.now()
    oldest = now - timedelta(days=TAKEN_WITHIN_DAYS)
    accepted: list[Event] = []
    rejected: list[Rejection] = []
    for index, event in enumerate(events):
        version = event.get("model_version")
        occurred_at = event.get("occurred_at") or now
        if event["product_id"] not in products:
            reason = "unknown_product"
        elif version is not None and version not in versions:
            reason = "unknown_model_version"
        elif event["kind"] in FEEDBACK_KINDS and version is None:
            reason = "not_tracked"
        elif occurred_at > now + CLOCK_SKEW:
            reason = "in_the_future"
        elif occurred_at < oldest:
            reason = "too_old"
        else:
            accepted.append(
                Event(
                    product_id=event["product_id"],
                    surface=event["surface"],
                    kind=event["kind"],
                    model_version_id=version,
                    occurred_at=min(occurred_at, now),
                )
            )
            continue
        rejected.append(Rejection(index=index, reason=reason))
    events_buffer(retailer_id=retailer.pk, events=accepted)
    return BatchOutcome(accepted=len(accepted), rejected=rejected)


def feedback_flush(*, max_batches: int, wait_seconds: float = 0) -> int | None:
    """Write buffered events, at most `max_batches` batches; None when Redis is unavailable or busy."""
    return buffer_flush(
        queue=EVENTS_QUEUE,
        writer=lambda payloads: events_write(payloads),
        max_batches=max_batches,
        wait_seconds=wait_seconds,
    )


@dataclass(frozen=True)
class ShownSuggestion:
    """One product shown on one surface on one day, and whether the retailer took it up."""

    product: Product
    surface: str
    model_version_id: int | None
    first_shown_at: datetime
    times_shown: int
    added_at: datetime | None
    ordered_at: datetime | None

    @property
    def surface_label(self) -> str:
        return Surface(self.surface).label

    @property
    def taken(self) -> bool:
        return self.added_at is not None or self.ordered_at is not None


def _shown_per_day(*, retailer: Retailer) -> QuerySet:
    # Every dashboard render records impressions; one row per product, surface, version and day is what a
    # person means by "suggested to me".
    return (
        RecommendationEvent.objects.filter(retailer=retailer, kind=Kind.IMPRESSION)
        .annotate(shown_on=TruncDate("created_at"))
        .values("shown_on", "product_id", "surface", "model_version_id")
        .annotate(first_shown_at=Min("created_at"), times_shown=Count("id"))
        .order_by("-shown_on", "surface", "first_shown_at", "product_id")
    )


def prediction_history_page(*, retailer: Retailer, page_number: str | int | None, per_page: int) -> Page:
    """One page of the suggestions the retailer was shown, newest day first, each marked taken or not.

    Three queries per page however many rows: the grouped impressions, the products, and the adds and orders
    of those products since the oldest impression on the page.
    """
    page = Paginator(_shown_per_day(retailer=retailer), per_page).get_page(page_number)
    groups = list(page.object_list)
    if not groups:
        page.object_list = []
        return page
    product_ids = {group["product_id"] for group in groups}
    since = min(group["first_shown_at"] for group in groups)
    products = Product.objects.select_related("vendor").in_bulk(product_ids)

    adds: dict[int, list[datetime]] = {}
    for product_id, created_at in RecommendationEvent.objects.filter(
        retailer=retailer, kind=Kind.ADD, product_id__in=product_ids, created_at__gte=since
    ).values_list("product_id", "created_at"):
        adds.setdefault(product_id, []).append(created_at)
    orders: dict[int, list[datetime]] = {}
    for product_id, placed_at in OrderLine.objects.filter(
        order__retailer=retailer,
        order__status=Order.Status.PLACED,
        order__placed_at__gte=since,
        product_id__in=product_ids,
    ).values_list("product_id", "order__placed_at"):
        orders.setdefault(product_id, []).append(placed_at)

    def first_within(moments: list[datetime], shown_at: datetime) -> datetime | None:
        deadline = shown_at + timedelta(days=TAKEN_WITHIN_DAYS)
        return min((moment for moment in moments if shown_at <= moment <= deadline), default=None)

    page.object_list = [
        ShownSuggestion(
            product=products[group["product_id"]],
            surface=group["surface"],
            model_version_id=group["model_version_id"],
            first_shown_at=group["first_shown_at"],
            times_shown=group["times_shown"],
            added_at=first_within(adds.get(group["product_id"], []), group["first_shown_at"]),
            ordered_at=first_within(orders.get(group["product_id"], []), group["first_shown_at"]),
        )
        for group in groups
    ]
    return page


@dataclass(frozen=True)
class SurfaceRates:
    model_version_id: int | None
    surface: str
    impressions: int
    clicks: int
    adds: int

    @property
    def surface_label(self) -> str:
        return Surface(self.surface).label

    @property
    def click_through_percent(self) -> float | None:
        return 100 * self.clicks / self.impressions if self.impressions else None

    @property
    def add_percent(self) -> float | None:
        return 100 * self.adds / self.impressions if self.impressions else None


def feedback_rates(*, events: QuerySet[RecommendationEvent]) -> list[SurfaceRates]:
    """Click-through and add-to-basket rates per model version and surface, in one grouped query.

    Clicks and adds count at most once per retailer, product and day (the database keeps one), so impressions
    are counted on the same grain: a dashboard reloaded ten times in a day is one showing, not ten, and a rate
    is the share of daily showings that were clicked or added.
    """
    showing = Concat("retailer_id", Value(":"), "product_id", Value(":"), "day", output_field=CharField())
    rows = (
        events.order_by()
        .values("model_version_id", "surface")
        .annotate(
            impressions=Count(showing, distinct=True, filter=Q(kind=Kind.IMPRESSION)),
            clicks=Count("id", filter=Q(kind=Kind.CLICK)),
            adds=Count("id", filter=Q(kind=Kind.ADD)),
        )
        .order_by("-model_version_id", "surface")
    )
    return [SurfaceRates(**row) for row in rows]
