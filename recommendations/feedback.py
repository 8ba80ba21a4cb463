"""What retailers did with the recommendations they were shown: impressions, clicks and adds to the basket.

Every recommendation surface records its events here, tagged with the model version that produced the row,
so staff can compare versions and surfaces (see admin_feedback.py). Recording is one bulk INSERT per page
render or per form post, so it never slows a page noticeably.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.paginator import Page, Paginator
from django.db import transaction
from django.db.models import Count, Min, Q, QuerySet
from django.db.models.functions import TruncDate

from accounts.models import Retailer
from catalog.models import Product
from orders.models import Order, OrderLine
from recommendations.models import ModelVersion, RecommendationEvent

Surface = RecommendationEvent.EventSurface
Kind = RecommendationEvent.Kind

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
    """Store a batch of events in one INSERT; returns how many were stored.

    The events come from rows the caller has just read, so their product and version ids exist; ids taken from
    a request go through `event_record_tracked`, which checks them.
    """
    rows = [
        RecommendationEvent(
            retailer=retailer,
            product_id=event.product_id,
            model_version_id=event.model_version_id,
            surface=event.surface,
            kind=event.kind,
        )
        for event in events
    ]
    for row in rows:
        if row.surface not in Surface.values or row.kind not in Kind.values:
            raise ValueError(f"Unknown recommendation event {row.surface!r}/{row.kind!r}")
    RecommendationEvent.objects.bulk_create(rows)
    return len(rows)


def event_record_tracked(*, retailer: Retailer, product: Product, kind: str, data: Mapping[str, str]) -> bool:
    """Record one click or add if the request carries tracking fields; returns whether it did.

    The one-liner for any view that adds to the basket or opens a product from a recommendation surface. A
    version id that no longer exists (pruned, or made up) is stored as NULL instead of failing the foreign
    key.
    """
    tracking = tracking_from_data(data)
    if tracking is None:
        return False
    version_id = tracking.model_version_id
    if version_id is not None and not ModelVersion.objects.filter(pk=version_id).exists():
        version_id = None
    events_record(
        retailer=retailer,
        events=[
            Event(product_id=product.pk, surface=tracking.surface, kind=kind, model_version_id=version_id)
        ],
    )
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
        .annotate(day=TruncDate("created_at"))
        .values("day", "product_id", "surface", "model_version_id")
        .annotate(first_shown_at=Min("created_at"), times_shown=Count("id"))
        .order_by("-day", "surface", "first_shown_at", "product_id")
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
    """Click-through and add-to-basket rates per model version and surface, in one grouped query."""
    rows = (
        events.order_by()
        .values("model_version_id", "surface")
        .annotate(
            impressions=Count("id", filter=Q(kind=Kind.IMPRESSION)),
            clicks=Count("id", filter=Q(kind=Kind.CLICK)),
            adds=Count("id", filter=Q(kind=Kind.ADD)),
        )
        .order_by("-model_version_id", "surface")
    )
    return [SurfaceRates(**row) for row in rows]
