"""Demand analytics for one vendor's own products, computed from placed orders.

Every query is scoped by `product__vendor=vendor`: a vendor must never see another vendor's numbers.
Each figure comes from one aggregate query (values().annotate() or conditional aggregation) over the
reporting window only, so page cost does not grow with the number of products or the length of the history.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Aggregate, Count, DecimalField, ExpressionWrapper, F, Max, Q, QuerySet, Sum
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
class ProductPerformance:
    product: Product
    # units_<days>, revenue_<days>, prev_units_<days>, prev_revenue_<days> for each period.
    figures: dict[str, int | Decimal]


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


def _window_lines(*, vendor: Vendor, as_of: datetime) -> QuerySet[OrderLine]:
    """The vendor's placed lines in the longest period and the one before: all rows any figure reads."""
    longest = max(ANALYTICS_PERIODS)
    return _vendor_lines(vendor=vendor).filter(
        order__placed_at__gt=as_of - timedelta(days=2 * longest), order__placed_at__lte=as_of
    )


def _period_aggregates(*, as_of: datetime, with_buyers: bool) -> dict[str, Aggregate | Coalesce]:
    """Conditional aggregates over `_window_lines`: one column per figure, period and previous period."""
    aggregates: dict[str, Aggregate | Coalesce] = {}
    for days in ANALYTICS_PERIODS:
        current = Q(order__placed_at__gt=as_of - timedelta(days=days))
        previous = Q(
            order__placed_at__lte=as_of - timedelta(days=days),
            order__placed_at__gt=as_of - timedelta(days=2 * days),
        )
        for prefix, period in (("", current), ("prev_", previous)):
            aggregates[f"{prefix}units_{days}"] = Coalesce(Sum("quantity", filter=period), 0)
            aggregates[f"{prefix}revenue_{days}"] = Coalesce(
                Sum(_line_revenue(), filter=period), _ZERO, output_field=_MONEY
            )
            if with_buyers:
                aggregates[f"{prefix}retailers_{days}"] = Count(
                    "order__retailer", filter=period, distinct=True
                )
        if with_buyers:
            aggregates[f"orders_{days}"] = Count("order", filter=current, distinct=True)
    return aggregates


def vendor_period_figures(*, vendor: Vendor, as_of: datetime) -> list[PeriodFigures]:
    """Units, revenue and buyers per period in ANALYTICS_PERIODS and the period before it, in one query."""
    row = _window_lines(vendor=vendor, as_of=as_of).aggregate(
        **_period_aggregates(as_of=as_of, with_buyers=True)
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


def vendor_product_performance(*, vendor: Vendor, as_of: datetime) -> list[ProductPerformance]:
    """Every product of the vendor with its figures per period, best sellers of the longest period first.

    Two queries: the figures are aggregated over the reporting window only (grouped by product), then merged
    with the product list. Aggregating over a LEFT JOIN of all products to all their lines instead reads the
    vendor's whole sales history on every page view.
    """
    figures_by_product = {
        row.pop("product_id"): row
        for row in _window_lines(vendor=vendor, as_of=as_of)
        .values("product_id")
        .annotate(**_period_aggregates(as_of=as_of, with_buyers=False))
        .order_by()
    }
    no_sales = dict.fromkeys(_period_aggregates(as_of=as_of, with_buyers=False), 0)
    rows = [
        ProductPerformance(product=product, figures=figures_by_product.get(product.pk, no_sales))
        for product in Product.objects.filter(vendor=vendor).select_related("category__parent")
    ]
    longest = max(ANALYTICS_PERIODS)
    rows.sort(
        key=lambda row: (
            -row.figures[f"revenue_{longest}"],
            -row.figures[f"units_{longest}"],
            row.product.name,
            row.product.pk,
        )
    )
    return rows


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
