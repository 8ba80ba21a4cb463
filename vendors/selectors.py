"""Demand analytics for one vendor's own products, computed from placed orders.

Every query is scoped by `product__vendor=vendor`: a vendor must never see another vendor's numbers.
Each function is one aggregate query (values().annotate() or conditional aggregation), so page cost does not
grow with the number of products or orders.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, DecimalField, ExpressionWrapper, F, Max, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncWeek
from django.utils import timezone

from catalog.models import Product
from orders.models import Order, OrderLine
from vendors.models import Vendor

ANALYTICS_PERIODS = (30, 90)
_ZERO = Decimal("0.00")
_MONEY = DecimalField(max_digits=14, decimal_places=2)


def _line_revenue(prefix: str = "") -> ExpressionWrapper:
    return ExpressionWrapper(F(f"{prefix}quantity") * F(f"{prefix}unit_price"), output_field=_MONEY)


@dataclass(frozen=True)
class PeriodFigures:
    days: int
    units: int
    revenue: Decimal
    retailers: int
    orders: int
    previous_units: int
    previous_revenue: Decimal
    previous_retailers: int

    @property
    def units_change(self) -> float | None:
        return _change(self.units, self.previous_units)

    @property
    def revenue_change(self) -> float | None:
        return _change(self.revenue, self.previous_revenue)


@dataclass(frozen=True)
class WeekDemand:
    week_start: date
    units: int
    revenue: Decimal
    orders: int
    retailers: int
    # Units relative to the busiest week of the series (0..100), for the bar next to the number.
    share_of_peak: int


def _change(current: int | Decimal, previous: int | Decimal) -> float | None:
    """Percent change against the previous period; None when there is nothing to compare with."""
    if not previous:
        return None
    return float((Decimal(current) - Decimal(previous)) / Decimal(previous) * 100)


def analytics_as_of() -> datetime:
    """The end of the reporting window: the latest placed order on the platform, or now.

    Imported history can end long before today; anchoring on the latest order keeps "last 30 days" meaningful
    for that data while behaving like a live "last 30 days" once the portal takes orders every day.
    """
    latest = Order.objects.filter(status=Order.Status.PLACED).aggregate(latest=Max("placed_at"))["latest"]
    now = timezone.now()
    return min(latest, now) if latest else now


def _vendor_lines(*, vendor: Vendor) -> QuerySet[OrderLine]:
    return OrderLine.objects.filter(product__vendor=vendor, order__status=Order.Status.PLACED)


def vendor_period_figures(*, vendor: Vendor, as_of: datetime) -> list[PeriodFigures]:
    """Units, revenue and buyers per period in ANALYTICS_PERIODS and the period before it, in one query."""
    longest = max(ANALYTICS_PERIODS)
    aggregates: dict[str, object] = {}
    for days in ANALYTICS_PERIODS:
        current = Q(order__placed_at__gt=as_of - timedelta(days=days), order__placed_at__lte=as_of)
        previous = Q(
            order__placed_at__gt=as_of - timedelta(days=2 * days),
            order__placed_at__lte=as_of - timedelta(days=days),
        )
        aggregates[f"units_{days}"] = Coalesce(Sum("quantity", filter=current), 0)
        aggregates[f"revenue_{days}"] = Coalesce(
            Sum(_line_revenue(), filter=current), _ZERO, output_field=_MONEY
        )
        aggregates[f"retailers_{days}"] = Count("order__retailer", filter=current, distinct=True)
        aggregates[f"orders_{days}"] = Count("order", filter=current, distinct=True)
        aggregates[f"prev_units_{days}"] = Coalesce(Sum("quantity", filter=previous), 0)
        aggregates[f"prev_revenue_{days}"] = Coalesce(
            Sum(_line_revenue(), filter=previous), _ZERO, output_field=_MONEY
        )
        aggregates[f"prev_retailers_{days}"] = Count("order__retailer", filter=previous, distinct=True)
    row = (
        _vendor_lines(vendor=vendor)
        .filter(order__placed_at__gt=as_of - timedelta(days=2 * longest), order__placed_at__lte=as_of)
        .aggregate(**aggregates)
    )
    return [
        PeriodFigures(
            days=days,
            units=row[f"units_{days}"],
            revenue=row[f"revenue_{days}"],
            retailers=row[f"retailers_{days}"],
            orders=row[f"orders_{days}"],
            previous_units=row[f"prev_units_{days}"],
            previous_revenue=row[f"prev_revenue_{days}"],
            previous_retailers=row[f"prev_retailers_{days}"],
        )
        for days in ANALYTICS_PERIODS
    ]


def vendor_top_products(*, vendor: Vendor, as_of: datetime, days: int = 30, limit: int = 5) -> list[dict]:
    """The vendor's best sellers by revenue over the last `days` days."""
    return list(
        _vendor_lines(vendor=vendor)
        .filter(order__placed_at__gt=as_of - timedelta(days=days), order__placed_at__lte=as_of)
        .values("product_id", "product__name", "product__sku")
        .annotate(
            units=Sum("quantity"),
            revenue=Sum(_line_revenue()),
            retailers=Count("order__retailer", distinct=True),
        )
        .order_by("-revenue", "product__name")[:limit]
    )


def vendor_product_performance(*, vendor: Vendor, as_of: datetime) -> QuerySet[Product]:
    """All the vendor's products with units and revenue per period and the period before, best first."""
    annotations: dict[str, object] = {}
    for days in ANALYTICS_PERIODS:
        placed = Q(order_lines__order__status=Order.Status.PLACED)
        current = placed & Q(
            order_lines__order__placed_at__gt=as_of - timedelta(days=days),
            order_lines__order__placed_at__lte=as_of,
        )
        previous = placed & Q(
            order_lines__order__placed_at__gt=as_of - timedelta(days=2 * days),
            order_lines__order__placed_at__lte=as_of - timedelta(days=days),
        )
        annotations[f"units_{days}"] = Coalesce(Sum("order_lines__quantity", filter=current), 0)
        annotations[f"revenue_{days}"] = Coalesce(
            Sum(_line_revenue("order_lines__"), filter=current), _ZERO, output_field=_MONEY
        )
        annotations[f"prev_units_{days}"] = Coalesce(Sum("order_lines__quantity", filter=previous), 0)
        annotations[f"prev_revenue_{days}"] = Coalesce(
            Sum(_line_revenue("order_lines__"), filter=previous), _ZERO, output_field=_MONEY
        )
    return (
        Product.objects.filter(vendor=vendor)
        .select_related("category__parent")
        .annotate(**annotations)
        .order_by("-revenue_90", "-units_90", "name", "pk")
    )


def vendor_weekly_demand(*, vendor: Vendor, as_of: datetime, weeks: int = 12) -> list[WeekDemand]:
    """Demand per ISO week (Monday start) for the `weeks` weeks up to `as_of`, oldest first, gaps as 0."""
    last_week_start = as_of.date() - timedelta(days=as_of.weekday())
    first_week_start = last_week_start - timedelta(weeks=weeks - 1)
    window_start = datetime.combine(first_week_start, time.min, tzinfo=as_of.tzinfo)
    rows = (
        _vendor_lines(vendor=vendor)
        .filter(order__placed_at__gte=window_start, order__placed_at__lte=as_of)
        .annotate(week=TruncWeek("order__placed_at"))
        .values("week")
        .annotate(
            units=Sum("quantity"),
            revenue=Sum(_line_revenue()),
            orders=Count("order", distinct=True),
            retailers=Count("order__retailer", distinct=True),
        )
        .order_by("week")
    )
    by_week = {row["week"].date(): row for row in rows}
    peak = max((row["units"] for row in by_week.values()), default=0)
    series = []
    for index in range(weeks):
        week_start = first_week_start + timedelta(weeks=index)
        row = by_week.get(week_start)
        units = row["units"] if row else 0
        series.append(
            WeekDemand(
                week_start=week_start,
                units=units,
                revenue=row["revenue"] if row else _ZERO,
                orders=row["orders"] if row else 0,
                retailers=row["retailers"] if row else 0,
                share_of_peak=round(units * 100 / peak) if peak else 0,
            )
        )
    return series
