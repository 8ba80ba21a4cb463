"""What retailers did with the recommendations they were shown: impressions, clicks and adds to the basket.

Every recommendation surface records its events here, tagged with the model version that produced the row,
so staff can compare versions and surfaces (see admin_feedback.py). Recording is one bulk INSERT per page
render or per form post, so it never slows a page noticeably.

Clicks and adds arrive as `src`/`mv` fields of a request, which anybody can forge. One counts only when the
product was shown to that retailer by that version on that surface within the last TAKEN_WITHIN_DAYS days
(an impression event exists: the same window in which the suggestion history calls a suggestion taken), and
only once per retailer, product, surface, version and day: a partial unique index on `day` enforces that,
and inserts skip the rows it refuses, so concurrent requests cannot double count.
"""

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.paginator import Page, Paginator
from django.db import DatabaseError, transaction
from django.db.models import CharField, Count, Min, Q, QuerySet, Value
from django.db.models.functions import Concat, TruncDate
from django.utils import timezone

from accounts.models import Retailer
from catalog.models import Product
from orders.models import Order, OrderLine
from recommendations.models import RecommendationEvent

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
