"""Cold-start lists: what a retailer is offered while no model version is active (the first training run of
a new installation, or a database whose every version failed).

Live selectors over placed orders, cheap enough for every request (a few grouped queries over the last
`WINDOW_DAYS` of order lines): products popular with the other retailers of the retailer's region and of its
segment, and the catalogue's newest arrivals. Each pick carries a structured reason whose facts are counted
from the orders at the moment of the request, so its sentence is true on the day it is read and a test can
recount it. Products the retailer has already ordered are left out (it knows them), and each product appears
in one list only.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from accounts.models import Retailer
from catalog.models import Product
from orders.models import Order, OrderLine

# "Popular in the last 90 days": long enough for slow movers in a small region, short enough for seasons.
WINDOW_DAYS = 90
# A product is a new arrival for this many days after it entered the catalogue.
NEW_ARRIVAL_DAYS = 30
LIST_LIMIT = 8


@dataclass(frozen=True)
class Pick:
    """One product offered without a model: `score` is the share of the counted retailers who ordered it."""

    product: Product
    score: float
    reasons: list[dict]


@dataclass(frozen=True)
class Picks:
    region: list[Pick]
    segment: list[Pick]
    new_arrivals: list[Pick]

    @property
    def popular(self) -> list[Pick]:
        """Region first, then segment: the API's "for you" while no model is active."""
        return [*self.region, *self.segment]


def _ordered_by(retailer: Retailer) -> QuerySet:
    return OrderLine.objects.filter(order__retailer=retailer, order__status=Order.Status.PLACED).values(
        "product_id"
    )


def _products(ids: list[int]) -> dict[int, Product]:
    return Product.objects.select_related("vendor", "category").in_bulk(ids)


def popular_with_peers(
    *, retailer: Retailer, scope: str, now: datetime, exclude: set[int], limit: int = LIST_LIMIT
) -> list[Pick]:
    """Active products ordered by the most other retailers of the same region (`scope="region"`), the same
    segment (`"segment"`) or the whole platform (`"all"`) in the last WINDOW_DAYS, most retailers first.

    Retailers are counted once per product however often they ordered it. The score is that count over the
    peers who placed any order in the window.
    """
    lines = OrderLine.objects.filter(
        order__status=Order.Status.PLACED, order__placed_at__gte=now - timedelta(days=WINDOW_DAYS)
    ).exclude(order__retailer=retailer)
    if scope == "region":
        lines = lines.filter(order__retailer__region=retailer.region)
        scope_value = retailer.region
    elif scope == "segment":
        lines = lines.filter(order__retailer__segment=retailer.segment)
        scope_value = retailer.get_segment_display()
    else:
        scope_value = ""
    peers = lines.aggregate(n=Count("order__retailer_id", distinct=True))["n"]
    if not peers:
        return []
    counts = list(
        lines.filter(product__is_active=True)
        .exclude(product_id__in=_ordered_by(retailer))
        .exclude(product_id__in=exclude)
        .values("product_id")
        .annotate(retailers=Count("order__retailer_id", distinct=True))
        .order_by("-retailers", "product_id")[:limit]
    )
    products = _products([row["product_id"] for row in counts])
    return [
        Pick(
            product=products[row["product_id"]],
            score=round(row["retailers"] / peers, 4),
            reasons=[
                {
                    "kind": "popular",
                    "weight": 1.0,
                    "facts": {
                        "retailers": row["retailers"],
                        "peers": peers,
                        "window_days": WINDOW_DAYS,
                        "scope": scope,
                        "scope_value": scope_value,
                        "as_of": now.date().isoformat(),
                    },
                }
            ],
        )
        for row in counts
    ]


def new_arrivals(
    *, retailer: Retailer, now: datetime, exclude: set[int], limit: int = LIST_LIMIT
) -> list[Pick]:
    """Active products that entered the catalogue in the last NEW_ARRIVAL_DAYS, those ordered by the most
    other retailers since then first, then the newest. The score is that count over the retailers who placed
    any order in the same days."""
    since = now - timedelta(days=NEW_ARRIVAL_DAYS)
    rows = list(
        Product.objects.filter(is_active=True, created_at__gte=since, created_at__lte=now)
        .exclude(pk__in=_ordered_by(retailer))
        .exclude(pk__in=exclude)
        .annotate(
            retailers=Count(
                "order_lines__order__retailer",
                distinct=True,
                filter=Q(order_lines__order__status=Order.Status.PLACED)
                & ~Q(order_lines__order__retailer=retailer),
            )
        )
        .select_related("vendor", "category")
        .order_by("-retailers", "-created_at", "pk")[:limit]
    )
    buyers = (
        Order.objects.filter(status=Order.Status.PLACED, placed_at__gte=since)
        .exclude(retailer=retailer)
        .aggregate(n=Count("retailer_id", distinct=True))["n"]
    )
    return [
        Pick(
            product=product,
            score=round(product.retailers / buyers, 4) if buyers else 0.0,
            reasons=[
                {
                    "kind": "new_arrival",
                    "weight": 1.0,
                    "facts": {
                        "created": product.created_at.date().isoformat(),
                        "retailers": product.retailers,
                    },
                }
            ],
        )
        for product in rows
    ]


def cold_start_picks(*, retailer: Retailer, limit: int = LIST_LIMIT, now: datetime | None = None) -> Picks:
    """The three lists, each product in one of them only. A retailer without a region gets no region list; one
    in the catch-all segment "other" is compared with the whole platform, which is what that segment means."""
    now = now or timezone.now()
    region = (
        popular_with_peers(retailer=retailer, scope="region", now=now, exclude=set(), limit=limit)
        if retailer.region
        else []
    )
    shown = {pick.product.pk for pick in region}
    scope = "all" if retailer.segment == Retailer.Segment.OTHER else "segment"
    segment = popular_with_peers(retailer=retailer, scope=scope, now=now, exclude=shown, limit=limit)
    shown |= {pick.product.pk for pick in segment}
    return Picks(
        region=region,
        segment=segment,
        new_arrivals=new_arrivals(retailer=retailer, now=now, exclude=shown, limit=limit),
    )
