"""Reads for one product's page: weekly history beside the stored forecast, its buyers, repeat rate, reorder
cadence, regions, what it is bought with, and how accurate its forecast has been.

Every read is scoped by the signed-in member's vendor and reads the rollups (SalesFact filtered by the one
product, through the (vendor, product, retailer, day) unique index) and the stored forecast, never order
lines: the cost of the page grows with one product's sales, not with the vendor's.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import pairwise
from statistics import median

from django.db.models import Sum
from django.db.models.functions import TruncWeek
from django.shortcuts import get_object_or_404

from catalog.models import Product
from recommendations.models import ModelVersion, ProductAssociation
from vendors.models import ProductForecast, SalesFact, Vendor, VendorAnalytics
from vendors.services import last_full_week
from vendors.weekly import WeekRow, weeks_with_forecast

HISTORY_WEEKS = 26
BOUGHT_WITH_LIMIT = 10


@dataclass(frozen=True)
class BuyerStats:
    buyers: int
    repeat_buyers: int
    orders: int
    units: int
    # Days between consecutive order days of one retailer, pooled over all its buyers.
    intervals: int
    median_cadence_days: float | None

    @property
    def repeat_rate(self) -> float | None:
        return self.repeat_buyers / self.buyers if self.buyers else None


@dataclass(frozen=True)
class RegionRow:
    region: str
    units: int
    buyers: int


@dataclass(frozen=True)
class BoughtWith:
    other_id: int
    other_name: str
    # The other product's own page exists only when it is one of the vendor's products.
    is_own: bool
    together: int
    confidence: float
    lift: float


def product_for_vendor(*, vendor: Vendor, product_id: int) -> Product:
    """The vendor's own product; any other id (another vendor's, or none) is a 404, which confirms nothing."""
    return get_object_or_404(Product.objects.select_related("category"), pk=product_id, vendor=vendor)


def product_forecast(*, analytics: VendorAnalytics | None, product: Product) -> ProductForecast | None:
    if analytics is None or analytics.forecast_run_id is None:
        return None
    return ProductForecast.objects.filter(run_id=analytics.forecast_run_id, product=product).first()


def product_weeks(
    *, vendor: Vendor, product: Product, as_of: date, forecast: ProductForecast | None
) -> list[WeekRow]:
    """Units per full week for HISTORY_WEEKS weeks up to `as_of` (gaps as 0), then the forecast's weeks."""
    first, last = history_weeks(as_of)
    units_by_week = {
        row["week"]: row["units"]
        for row in SalesFact.objects.filter(
            vendor=vendor, product=product, day__gte=first, day__lte=last + timedelta(days=6)
        )
        .annotate(week=TruncWeek("day"))
        .values("week")
        .annotate(units=Sum("units"))
        .order_by()
    }
    return weeks_with_forecast(
        first=first, weeks=HISTORY_WEEKS, units_by_week=units_by_week, forecast=forecast
    )


def history_weeks(as_of: date) -> tuple[date, date]:
    """The Mondays of the first and the last of the HISTORY_WEEKS full weeks up to `as_of`."""
    last = last_full_week(as_of)
    return last - timedelta(weeks=HISTORY_WEEKS - 1), last


def _sales_rows(*, vendor: Vendor, product: Product, start: date, end: date) -> list[tuple]:
    return list(
        SalesFact.objects.filter(vendor=vendor, product=product, day__gte=start, day__lte=end)
        .order_by("retailer_id", "day")
        .values_list("retailer_id", "day", "orders", "units", "region")
    )


def buyer_stats_from_rows(rows: list[tuple]) -> tuple[BuyerStats, list[RegionRow]]:
    """Buyers, repeat buyers, pooled median interval and the regions, from (retailer, day, orders, units,
    region) rows ordered by retailer and day."""
    orders_by_retailer: dict[int, int] = defaultdict(int)
    days_by_retailer: dict[int, list[date]] = defaultdict(list)
    region_units: dict[str, int] = defaultdict(int)
    region_buyers: dict[str, set[int]] = defaultdict(set)
    units = 0
    for retailer_id, day, orders, row_units, region in rows:
        orders_by_retailer[retailer_id] += orders
        days_by_retailer[retailer_id].append(day)
        region_units[region] += row_units
        region_buyers[region].add(retailer_id)
        units += row_units
    intervals = [
        (later - earlier).days for days in days_by_retailer.values() for earlier, later in pairwise(days)
    ]
    stats = BuyerStats(
        buyers=len(orders_by_retailer),
        repeat_buyers=sum(1 for count in orders_by_retailer.values() if count >= 2),
        orders=sum(orders_by_retailer.values()),
        units=units,
        intervals=len(intervals),
        median_cadence_days=float(median(intervals)) if intervals else None,
    )
    regions = sorted(
        (
            RegionRow(region=region or "Unknown", units=region_units[region], buyers=len(buyers))
            for region, buyers in region_buyers.items()
        ),
        key=lambda row: (-row.units, row.region),
    )
    return stats, regions


def product_buyers(
    *, vendor: Vendor, product: Product, start: date, end: date
) -> tuple[BuyerStats, list[RegionRow]]:
    """One query: the product's SalesFact rows in the period (one per buyer and day), summed here."""
    return buyer_stats_from_rows(_sales_rows(vendor=vendor, product=product, start=start, end=end))


def product_bought_with(*, product: Product, version: ModelVersion | None) -> list[BoughtWith]:
    """The active version's "bought together" rows: the other product's name and the association counts only,
    never the other vendor's sales."""
    if version is None:
        return []
    rows = (
        ProductAssociation.objects.filter(model_version_id=version.pk, product=product)
        .select_related("other")
        .order_by("rank")[:BOUGHT_WITH_LIMIT]
    )
    return [
        BoughtWith(
            other_id=row.other_id,
            other_name=row.other.name,
            is_own=row.other.vendor_id == product.vendor_id,
            together=row.together,
            confidence=row.confidence,
            lift=row.lift,
        )
        for row in rows
    ]
