"""Distribution insights: where each of a vendor's products under-sells, which groups of its retailers buy
what goes with a product but not the product, and which of its buyers are overdue against their own cadence.

Every insight is a small dataclass of counts, and its sentence is made from those fields only, so a test can
recompute each number from raw orders. Only the vendor's own rollups are read (SalesFact, RetailerDay) and
only "bought together" rows between two of the vendor's own products: a prospect's evidence never quotes
another vendor's sales. Groups of retailers appear only as aggregates of at least MIN_GROUP_RETAILERS; the
lapsing buyers are named because they are the vendor's own customers.

Penetration, the category averages and the prospects need every (product, buyer) pair of the period: for a
large vendor (Online Retail: 3,659 products, a year is ~370,000 SalesFact rows, 258,000 pairs) computing them
takes ~0.3 s for 30 days and ~0.8 s for a year, too slow for a page. So the result of one (vendor, rollup
refresh, model version, period) is computed once and kept in the cache, and `vendor_insights_compute` fills
it for the preset periods right after a rollup refresh; a page then reads it in one cache get. A new refresh
or model version changes the key, so a stale result is never shown. Only plain ORM reads are used, so the
embedded SQLite demo computes the same figures.
"""

import heapq
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from itertools import pairwise
from statistics import median

from django.core.cache import cache

from accounts.models import Retailer
from catalog.models import Category, Product
from recommendations.models import ModelVersion, ProductAssociation
from recommendations.selectors import active_version
from vendors.models import RetailerDay, SalesFact, VendorAnalytics
from vendors.periods import PRESET_DAYS, preset_period

logger = logging.getLogger(__name__)

MIN_GROUP_RETAILERS = 5
# A product's strongest "bought together" partners (by the association's rank) that count as evidence.
PROSPECT_ANCHORS = 3
LAPSE_FACTOR = 1.5
MIN_ORDER_DAYS = 3
TABLE_LIMIT = 500
# Refreshes run hourly and each changes the key: two hours keeps the current result, not a day of old ones.
CACHE_SECONDS = 2 * 60 * 60
# 2: zero-buyer penetration gaps; results kept by the previous code must not be served.
CACHE_VERSION = 2


def _percent(value: float) -> str:
    # One decimal: a large vendor's shares are often around 1%, where whole percents would all look alike.
    return f"{value * 100:.1f}%"


def _plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count:,} {word if count == 1 else plural or word + 's'}"


def segment_label(segment: str) -> str:
    return dict(Retailer.Segment.choices).get(segment, segment or "Unknown segment")


def _region_label(region: str) -> str:
    return region or "an unknown region"


@dataclass(frozen=True)
class PenetrationGap:
    """A product's share of the vendor's buying retailers in a region or segment, below its category mean;
    `buyers` is 0 for a product none of them bought."""

    product_id: int
    product_name: str
    dimension: str  # "region" or "segment"
    group: str
    buyers: int
    active_retailers: int
    category_name: str
    category_products: int
    # Sum over the category's products of their buyers in the group: the category mean's numerator.
    category_buyers: int

    @property
    def group_label(self) -> str:
        return _region_label(self.group) if self.dimension == "region" else segment_label(self.group)

    @property
    def penetration(self) -> float:
        return self.buyers / self.active_retailers

    @property
    def category_average(self) -> float:
        return self.category_buyers / (self.category_products * self.active_retailers)

    @property
    def penetration_percent(self) -> str:
        return _percent(self.penetration)

    @property
    def category_average_percent(self) -> str:
        return _percent(self.category_average)

    @property
    def missing_retailers(self) -> int:
        """Retailers more it would need in the group to reach the category mean."""
        return round(self.category_average * self.active_retailers) - self.buyers

    @property
    def sentence(self) -> str:
        region = self.dimension == "region"
        where = f"in {self.group_label}" if region else f"in the {self.group_label} segment"
        retailers = f"{_plural(self.active_retailers, 'retailer')} {where} that ordered from you"
        if self.buyers:
            share = (
                f"{self.product_name} was bought by {self.buyers:,} of the {retailers} "
                f"({self.penetration_percent})"
            )
        else:
            share = f"None of the {retailers} bought {self.product_name}"
        return (
            f"{share}; your {self.category_products:,} {self.category_name} products "
            f"reach {self.category_average_percent} there on average."
        )


@dataclass(frozen=True)
class Prospect:
    """Retailers of one region and segment who buy a product's "bought together" partner, not the product."""

    product_id: int
    product_name: str
    anchor_id: int
    anchor_name: str
    region: str
    segment: str
    lift: float
    anchor_buyers: int
    both_buyers: int

    @property
    def segment_label(self) -> str:
        return segment_label(self.segment)

    @property
    def prospects(self) -> int:
        return self.anchor_buyers - self.both_buyers

    @property
    def sentence(self) -> str:
        taken = f"only {self.both_buyers:,} of them" if self.both_buyers else "none of them"
        return (
            f"{_plural(self.anchor_buyers, 'retailer')} in {_region_label(self.region)} "
            f"({segment_label(self.segment)}) bought {self.anchor_name}, often bought with "
            f"{self.product_name} (lift {self.lift:.1f}), but {taken} bought {self.product_name}."
        )


@dataclass(frozen=True)
class LapsingBuyer:
    """One of the vendor's customers whose time since its last order is well past its own usual interval."""

    retailer_id: int
    retailer_name: str
    region: str
    segment: str
    order_days: int
    orders: int
    median_interval: float
    last_ordered: date
    days_since: int

    @property
    def overdue_ratio(self) -> float:
        return self.days_since / self.median_interval

    @property
    def sentence(self) -> str:
        return (
            f"{self.retailer_name} ordered from you on {self.order_days:,} days, typically every "
            f"{_plural(round(self.median_interval), 'day')}; the last order was "
            f"{_plural(self.days_since, 'day')} ago ({self.overdue_ratio:.1f}x its usual interval)."
        )


@dataclass(frozen=True)
class Insights:
    start: date
    end: date
    as_of: date
    penetration: list[PenetrationGap]
    prospects: list[Prospect]
    lapsing: list[LapsingBuyer]


@dataclass(frozen=True)
class _PeriodBuyers:
    """Who bought what in the period: every (product, buyer) pair and each buyer's region and segment."""

    buyers: dict[int, set[int]]
    category_of: dict[int, int | None]
    groups_of: dict[int, tuple[str, str]]

    def active(self, dimension: int) -> dict[str, int]:
        """Retailers that ordered any of the vendor's products, per region (0) or segment (1)."""
        counts: dict[str, int] = defaultdict(int)
        for groups in self.groups_of.values():
            counts[groups[dimension]] += 1
        return counts


def _period_buyers(*, vendor_id: int, start: date, end: date) -> _PeriodBuyers:
    """Two queries: the distinct (product, category, buyer) triples of the period, and the buyers' groups.

    Every penetration and prospect count is a set operation on these pairs, done here: one scan of the
    period's SalesFact rows instead of one grouped, DISTINCT-counting scan per figure (~3x faster for a year
    of Online Retail).
    """
    buyers: dict[int, set[int]] = defaultdict(set)
    category_of: dict[int, int | None] = {}
    pairs = (
        SalesFact.objects.filter(vendor_id=vendor_id, day__gte=start, day__lte=end)
        .values_list("product_id", "category_id", "retailer_id")
        .distinct()
        .order_by()
    )
    for product_id, category_id, retailer_id in pairs:
        buyers[product_id].add(retailer_id)
        category_of[product_id] = category_id
    groups_of = {
        retailer_id: (region, segment)
        for retailer_id, region, segment in RetailerDay.objects.filter(
            vendor_id=vendor_id, day__gte=start, day__lte=end
        )
        .values_list("retailer_id", "region", "segment")
        .distinct()
        .order_by()
    }
    return _PeriodBuyers(buyers=buyers, category_of=category_of, groups_of=groups_of)


DIMENSIONS = ("region", "segment")


def _penetration_gaps(period: _PeriodBuyers) -> list[dict]:
    """Groups of at least MIN_GROUP_RETAILERS buying retailers where a product's penetration is below the mean
    of its category's products that sold in the period (at least two, or the mean is the product itself);
    the TABLE_LIMIT largest shortfalls, largest first.

    A product none of the group bought counts too, when its category has buyers there: the strongest gap
    (sold elsewhere, never here, while its companions sell here). Bounded by the products that sold in the
    period times the groups large enough to show, so at most a few hundred thousand candidates for a year
    of Online Retail, kept as tuples and cut to the table with a heap rather than a full sort.

    Each row also gets a `shortfall` for ordering only: the buyers it would have in the group at its own share
    of all the vendor's buying retailers, minus those it has. A product that sells well elsewhere but not in
    this group comes first; one that sells little everywhere does not crowd the table.
    """
    products_by_category: dict[int | None, list[int]] = defaultdict(list)
    for product_id, category_id in period.category_of.items():
        products_by_category[category_id].append(product_id)
    all_active = len(period.groups_of)
    candidates: list[tuple] = []
    for index, dimension in enumerate(DIMENSIONS):
        active = period.active(index)
        buyers_in_group: dict[tuple[int, str], int] = defaultdict(int)
        category_buyers: dict[tuple[int | None, str], int] = defaultdict(int)
        for product_id, retailers in period.buyers.items():
            category_id = period.category_of[product_id]
            for retailer_id in retailers:
                group = period.groups_of[retailer_id][index]
                buyers_in_group[(product_id, group)] += 1
                category_buyers[(category_id, group)] += 1
        # Every (category, group) with buyers, so every product of the category is weighed in the group,
        # including those with no buyer there (missing from buyers_in_group).
        for (category_id, group), cat_buyers in category_buyers.items():
            active_here = active[group]
            products = products_by_category[category_id]
            if active_here < MIN_GROUP_RETAILERS or len(products) < 2:
                continue
            for product_id in products:
                buyers = buyers_in_group.get((product_id, group), 0)
                # Below the mean: buyers / active < cat_buyers / (products * active).
                if buyers * len(products) >= cat_buyers:
                    continue
                shortfall = len(period.buyers[product_id]) * active_here / all_active - buyers
                candidates.append(
                    (-shortfall, product_id, dimension, group, buyers, active_here, len(products), cat_buyers)
                )
    # (product, dimension, group) is unique, so the order never compares the figures after it.
    return [
        {
            "product_id": product_id,
            "category_id": period.category_of[product_id],
            "dimension": dimension,
            "group": group,
            "buyers": buyers,
            "active_retailers": active_here,
            "category_products": products,
            "category_buyers": cat_buyers,
            "shortfall": -negative_shortfall,
        }
        for negative_shortfall, product_id, dimension, group, buyers, active_here, products, cat_buyers in (
            heapq.nsmallest(TABLE_LIMIT, candidates)
        )
    ]


def _prospect_rows(*, vendor_id: int, version_id: int | None, period: _PeriodBuyers) -> list[tuple]:
    """(target, anchor, lift, region, segment, anchor buyers, buyers of both) for each product's strongest
    PROSPECT_ANCHORS "bought together" partners among the vendor's own products, per group of at least
    MIN_GROUP_RETAILERS anchor buyers of whom some do not buy the target; most prospects first."""
    if version_id is None:
        return []
    associations = ProductAssociation.objects.filter(
        model_version_id=version_id,
        rank__lt=PROSPECT_ANCHORS,
        product__vendor_id=vendor_id,
        other__vendor_id=vendor_id,
    ).values_list("product_id", "other_id", "lift")
    rows = []
    for target_id, anchor_id, lift in associations:
        if target_id == anchor_id:
            continue
        target_buyers = period.buyers.get(target_id, set())
        anchor_counts: dict[tuple[str, str], int] = defaultdict(int)
        both_counts: dict[tuple[str, str], int] = defaultdict(int)
        for retailer_id in period.buyers.get(anchor_id, ()):
            group = period.groups_of[retailer_id]
            anchor_counts[group] += 1
            if retailer_id in target_buyers:
                both_counts[group] += 1
        for (region, segment), anchor_buyers in anchor_counts.items():
            both = both_counts[(region, segment)]
            if anchor_buyers >= MIN_GROUP_RETAILERS and anchor_buyers > both:
                rows.append((target_id, anchor_id, lift, region, segment, anchor_buyers, both))
    rows.sort(key=lambda row: (-(row[5] - row[6]), -row[2], row[0], row[1], row[3], row[4]))
    return rows[:TABLE_LIMIT]


def lapsing_buyers(*, vendor_id: int, as_of: date) -> list[LapsingBuyer]:
    """Customers with at least MIN_ORDER_DAYS order days whose days since the last one exceed LAPSE_FACTOR
    times their median interval, most overdue first.

    Two queries: the vendor's RetailerDay rows up to `as_of` (one per buyer and day: ~20,000 for a year of
    Online Retail), then the names of the retailers kept.
    """
    days_by_retailer: dict[int, list[date]] = defaultdict(list)
    orders_by_retailer: dict[int, int] = defaultdict(int)
    rows = (
        RetailerDay.objects.filter(vendor_id=vendor_id, day__lte=as_of)
        .order_by("retailer_id", "day")
        .values_list("retailer_id", "day", "orders")
    )
    for retailer_id, day, orders in rows:
        days_by_retailer[retailer_id].append(day)
        orders_by_retailer[retailer_id] += orders
    overdue = []
    for retailer_id, days in days_by_retailer.items():
        if len(days) < MIN_ORDER_DAYS:
            continue
        interval = float(median((later - earlier).days for earlier, later in pairwise(days)))
        days_since = (as_of - days[-1]).days
        if days_since > LAPSE_FACTOR * interval:
            overdue.append((days_since / interval, retailer_id, interval, days_since))
    overdue.sort(key=lambda row: (-row[0], row[1]))
    overdue = overdue[:TABLE_LIMIT]
    retailers = Retailer.objects.in_bulk([row[1] for row in overdue])
    return [
        LapsingBuyer(
            retailer_id=retailer_id,
            retailer_name=retailers[retailer_id].name,
            region=retailers[retailer_id].region,
            segment=retailers[retailer_id].segment,
            order_days=len(days_by_retailer[retailer_id]),
            orders=orders_by_retailer[retailer_id],
            median_interval=interval,
            last_ordered=days_by_retailer[retailer_id][-1],
            days_since=days_since,
        )
        for _ratio, retailer_id, interval, days_since in overdue
    ]


def insights_compute(
    *, vendor_id: int, version_id: int | None, start: date, end: date, as_of: date
) -> Insights:
    """Every insight of one vendor over one period, from its rollups: a fixed number of queries."""
    period = _period_buyers(vendor_id=vendor_id, start=start, end=end)
    gap_rows = _penetration_gaps(period)
    prospect_rows = _prospect_rows(vendor_id=vendor_id, version_id=version_id, period=period)
    product_ids = {row["product_id"] for row in gap_rows}
    product_ids |= {row[0] for row in prospect_rows} | {row[1] for row in prospect_rows}
    names = dict(Product.objects.filter(vendor_id=vendor_id, pk__in=product_ids).values_list("id", "name"))
    category_ids = {row["category_id"] for row in gap_rows} - {None}
    category_names = dict(Category.objects.filter(pk__in=category_ids).values_list("id", "name"))
    penetration = [
        PenetrationGap(
            product_id=row["product_id"],
            product_name=names[row["product_id"]],
            dimension=row["dimension"],
            group=row["group"],
            buyers=row["buyers"],
            active_retailers=row["active_retailers"],
            category_name=category_names.get(row["category_id"], "uncategorised"),
            category_products=row["category_products"],
            category_buyers=row["category_buyers"],
        )
        for row in gap_rows
    ]
    prospects = [
        Prospect(
            product_id=target_id,
            product_name=names[target_id],
            anchor_id=anchor_id,
            anchor_name=names[anchor_id],
            region=region,
            segment=segment,
            lift=float(lift),
            anchor_buyers=anchor_buyers,
            both_buyers=both_buyers,
        )
        for target_id, anchor_id, lift, region, segment, anchor_buyers, both_buyers in prospect_rows
    ]
    return Insights(
        start=start,
        end=end,
        as_of=as_of,
        penetration=penetration,
        prospects=prospects,
        lapsing=lapsing_buyers(vendor_id=vendor_id, as_of=as_of),
    )


def _cache_key(*, analytics: VendorAnalytics, version_id: int | None, start: date, end: date) -> str:
    refreshed = analytics.rollups_refreshed_at.timestamp() if analytics.rollups_refreshed_at else 0
    return (
        f"vendor-insights:{CACHE_VERSION}:{analytics.vendor_id}:{refreshed}:{analytics.as_of}:"
        f"{version_id}:{start}:{end}"
    )


def vendor_insights(
    *, analytics: VendorAnalytics, version: ModelVersion | None, start: date, end: date
) -> Insights:
    """The cached insights of this refresh, version and period, computed (and kept) on a miss.

    A cache outage degrades to computing on the request, never to an error page.
    """
    version_id = version.pk if version is not None else None
    key = _cache_key(analytics=analytics, version_id=version_id, start=start, end=end)
    try:
        cached = cache.get(key)
    except Exception:  # any cache failure means "not cached"
        logger.warning("Insights cache unavailable for vendor %s", analytics.vendor_id, exc_info=True)
        cached = None
    if isinstance(cached, Insights):
        return cached
    insights = insights_compute(
        vendor_id=analytics.vendor_id, version_id=version_id, start=start, end=end, as_of=analytics.as_of
    )
    try:
        cache.set(key, insights, timeout=CACHE_SECONDS)
    except Exception:  # the page still has its figures
        logger.warning("Could not cache insights of vendor %s", analytics.vendor_id, exc_info=True)
    return insights


def vendor_insights_compute(*, vendor_id: int) -> list[Insights]:
    """Compute and cache the insights of every preset period, for the rollup refresh task to call after it."""
    analytics = VendorAnalytics.objects.filter(vendor_id=vendor_id).first()
    if analytics is None or analytics.as_of is None:
        return []
    version = active_version()
    results = []
    for days in PRESET_DAYS:
        period = preset_period(days, as_of=analytics.as_of)
        results.append(
            vendor_insights(analytics=analytics, version=version, start=period.start, end=period.end)
        )
    return results
