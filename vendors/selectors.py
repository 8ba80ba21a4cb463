"""Reads of the vendor pages (Overview and Breakdowns), from the rollups only (vendors.services builds them).

Every query is scoped by `vendor_id`, which views take from request.user.vendor: a vendor never sees another
vendor's numbers. Preset periods read RetailerDay and ProductPeriod (small); SalesFact is read only for custom
ranges and for the category/product filters, always through its (vendor, day) or (vendor, category, day)
index and only over the period and the one before. Each figure is one aggregate query, so a page costs a
constant number of queries whatever the number of products, retailers or days.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.core.paginator import Page, Paginator
from django.db.models import (
    Case,
    Count,
    DecimalField,
    ExpressionWrapper,
    F,
    FloatField,
    IntegerField,
    Max,
    Min,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Lower, NullIf, TruncWeek
from django.http import Http404

from accounts.models import Retailer
from catalog.models import Category, Product
from vendors.models import ProductForecast, ProductPeriod, RetailerDay, SalesFact, VendorAnalytics
from vendors.periods import Period
from vendors.services import last_full_week
from vendors.weekly import WeekRow, weeks_chart_spec, weeks_with_forecast

_ZERO = Decimal("0.00")
_MONEY = DecimalField(max_digits=16, decimal_places=2)
CHART_WEEKS = 52
MOVERS = 10


def change_percent(current: int | Decimal, previous: int | Decimal) -> float | None:
    """Percent change against `previous`; None when there is nothing to compare with."""
    if not previous:
        return None
    return float((Decimal(current) - Decimal(previous)) / Decimal(previous) * 100)


def vendor_analytics(*, vendor_id: int) -> VendorAnalytics | None:
    return VendorAnalytics.objects.filter(vendor_id=vendor_id).select_related("forecast_run").first()


# --- Overview: KPIs


@dataclass(frozen=True)
class Kpis:
    revenue: Decimal
    units: int
    orders: int
    retailers: int
    repeat_retailers: int

    @property
    def repeat_share(self) -> float | None:
        """Retailers with 2+ orders in the period over the active retailers (percent)."""
        return self.repeat_retailers * 100 / self.retailers if self.retailers else None


@dataclass(frozen=True)
class KpiComparison:
    name: str
    label: str
    current: Decimal | int | float | None
    previous: Decimal | int | float | None
    # None when the data does not reach a year back: the page says so instead of showing a made-up change.
    year_ago: Decimal | int | float | None
    is_share: bool = False

    @property
    def previous_change(self) -> float | None:
        return self._change(self.previous)

    @property
    def year_ago_change(self) -> float | None:
        return self._change(self.year_ago)

    def _change(self, other: Decimal | int | float | None) -> float | None:
        if other is None or self.current is None:
            return None
        if self.is_share:
            # A share changes in percentage points, not in percent of itself.
            return float(self.current) - float(other)
        return change_percent(self.current, other)


@dataclass(frozen=True)
class KpiSet:
    period: Period
    current: Kpis
    previous: Kpis
    year_ago: Kpis | None
    comparisons: list[KpiComparison] = field(default_factory=list)


def _kpis(row: dict, key: str) -> Kpis:
    return Kpis(
        revenue=row[f"{key}_revenue"] or _ZERO,
        units=row[f"{key}_units"] or 0,
        orders=row[f"{key}_orders"] or 0,
        retailers=row[f"{key}_retailers"],
        repeat_retailers=row[f"{key}_repeat"],
    )


def _first_sale_day(vendor_id: int) -> date | None:
    return RetailerDay.objects.filter(vendor_id=vendor_id).aggregate(first=Min("day"))["first"]


def vendor_kpis(*, vendor_id: int, period: Period) -> KpiSet:
    """Revenue, units, orders, active and repeat retailers in the period, the one before and a year earlier.

    Two queries: the vendor's first sale day (is there data a year back?), and RetailerDay grouped by retailer
    with one conditional sum per period, summed again over the retailers in SQL (one row comes back).
    """
    first_day = _first_sale_day(vendor_id)
    year_ago = period.year_ago
    has_year_ago = first_day is not None and first_day <= year_ago.start
    windows = {"cur": period, "prev": period.previous} | ({"ya": year_ago} if has_year_ago else {})
    in_any = Q()
    per_retailer = {}
    totals = {}
    for key, window in windows.items():
        within = Q(day__gte=window.start, day__lte=window.end)
        in_any |= within
        per_retailer[f"r_{key}_orders"] = Sum("orders", filter=within, default=0)
        per_retailer[f"r_{key}_units"] = Sum("units", filter=within, default=0)
        per_retailer[f"r_{key}_revenue"] = Sum("revenue", filter=within, default=_ZERO, output_field=_MONEY)
        totals[f"{key}_orders"] = Sum(f"r_{key}_orders")
        totals[f"{key}_units"] = Sum(f"r_{key}_units")
        totals[f"{key}_revenue"] = Sum(f"r_{key}_revenue")
        totals[f"{key}_retailers"] = Count("retailer_id", filter=Q(**{f"r_{key}_orders__gt": 0}))
        totals[f"{key}_repeat"] = Count("retailer_id", filter=Q(**{f"r_{key}_orders__gte": 2}))
    row = (
        RetailerDay.objects.filter(in_any, vendor_id=vendor_id)
        .values("retailer_id")
        .annotate(**per_retailer)
        .order_by()
        .aggregate(**totals)
    )
    current, previous = _kpis(row, "cur"), _kpis(row, "prev")
    earlier = _kpis(row, "ya") if has_year_ago else None

    def comparison(name: str, label: str, is_share: bool = False) -> KpiComparison:
        def value(kpis: Kpis | None) -> Decimal | int | float | None:
            return None if kpis is None else getattr(kpis, name)

        return KpiComparison(
            name=name,
            label=label,
            current=value(current),
            previous=value(previous),
            year_ago=value(earlier),
            is_share=is_share,
        )

    return KpiSet(
        period=period,
        current=current,
        previous=previous,
        year_ago=earlier,
        comparisons=[
            comparison("revenue", "Revenue"),
            comparison("units", "Units"),
            comparison("orders", "Orders"),
            comparison("retailers", "Active retailers"),
            comparison("repeat_share", "Repeat-buyer share", is_share=True),
        ],
    )


# --- Overview: weekly demand and the forecast of the total


@dataclass(frozen=True)
class DemandChart:
    weeks: list[WeekRow]
    last_actual_week: date | None
    forecast: ProductForecast | None

    def spec(self) -> dict:
        """The chart JSON of static/js/vendor_charts.js."""
        return weeks_chart_spec(self.weeks, units_label="Units", revenue=True)


def vendor_demand_chart(
    *, vendor_id: int, analytics: VendorAnalytics | None, weeks: int = CHART_WEEKS
) -> DemandChart:
    """Units and revenue per Monday week for the last `weeks` full weeks up to as_of, then the live forecast
    run's forecast of the vendor's total with its 80%/95% intervals for the weeks after. Two queries."""
    if analytics is None or analytics.as_of is None:
        return DemandChart(weeks=[], last_actual_week=None, forecast=None)
    last_week = last_full_week(analytics.as_of)
    first_week = last_week - timedelta(weeks=weeks - 1)
    by_week = {
        row["week"]: row
        for row in RetailerDay.objects.filter(
            vendor_id=vendor_id, day__gte=first_week, day__lte=last_week + timedelta(days=6)
        )
        .annotate(week=TruncWeek("day"))
        .values("week")
        .annotate(week_units=Sum("units"), week_revenue=Sum("revenue"))
        .order_by()
    }
    forecast = None
    if analytics.forecast_run_id:
        forecast = ProductForecast.objects.filter(run_id=analytics.forecast_run_id, product=None).first()
    rows = weeks_with_forecast(
        first=first_week,
        weeks=weeks,
        units_by_week={week: row["week_units"] for week, row in by_week.items()},
        revenue_by_week={week: row["week_revenue"] for week, row in by_week.items()},
        forecast=forecast,
    )
    return DemandChart(weeks=rows, last_actual_week=last_week, forecast=forecast)


# --- Overview: rising and falling products


@dataclass(frozen=True)
class Mover:
    product_id: int
    name: str
    sku: str
    units: int
    previous_units: int
    revenue: Decimal
    previous_revenue: Decimal

    @property
    def units_delta(self) -> int:
        return self.units - self.previous_units

    @property
    def units_change(self) -> float | None:
        return change_percent(self.units, self.previous_units)


def _movers_queryset(*, vendor_id: int, period: Period) -> QuerySet:
    """Per product: units and revenue in the period and in the one before, `delta` being the units' change."""
    if period.is_preset:
        queryset = ProductPeriod.objects.filter(vendor_id=vendor_id, days=period.days).annotate(
            p_units=F("units"),
            p_prev_units=F("previous_units"),
            p_revenue=F("revenue"),
            p_prev_revenue=F("previous_revenue"),
        )
    else:
        previous = period.previous
        current = Q(day__gte=period.start)
        before = Q(day__lt=period.start)
        queryset = (
            SalesFact.objects.filter(vendor_id=vendor_id, day__gte=previous.start, day__lte=period.end)
            .values("product_id")
            .annotate(
                p_units=Sum("units", filter=current, default=0),
                p_prev_units=Sum("units", filter=before, default=0),
                p_revenue=Sum("revenue", filter=current, default=_ZERO, output_field=_MONEY),
                p_prev_revenue=Sum("revenue", filter=before, default=_ZERO, output_field=_MONEY),
            )
        )
    return queryset.annotate(delta=F("p_units") - F("p_prev_units")).values(
        "product_id",
        "product__name",
        "product__sku",
        "p_units",
        "p_prev_units",
        "p_revenue",
        "p_prev_revenue",
        "delta",
    )


def _mover(row: dict) -> Mover:
    return Mover(
        product_id=row["product_id"],
        name=row["product__name"],
        sku=row["product__sku"],
        units=row["p_units"],
        previous_units=row["p_prev_units"],
        revenue=row["p_revenue"],
        previous_revenue=row["p_prev_revenue"],
    )


def vendor_movers(*, vendor_id: int, period: Period, limit: int = MOVERS) -> tuple[list[Mover], list[Mover]]:
    """The products whose units rose most and fell most against the previous period. Two queries."""
    queryset = _movers_queryset(vendor_id=vendor_id, period=period)
    rising = queryset.filter(delta__gt=0).order_by("-delta", "product__name", "product_id")[:limit]
    falling = queryset.filter(delta__lt=0).order_by("delta", "product__name", "product_id")[:limit]
    return [_mover(row) for row in rising], [_mover(row) for row in falling]


# --- Breakdowns


DIMENSIONS = ("region", "segment", "size", "category", "retailer")
DIMENSION_LABELS = {
    "region": "Region",
    "segment": "Retailer segment",
    "size": "Retailer size",
    "category": "Category",
    "retailer": "Retailer",
}
# The columns of each table, all sortable. A retailer row is one retailer, and a category's retailers cannot
# be read from the preset rollups (ProductPeriod counts them per product): those tables count other things.
COLUMNS = {
    "region": ("name", "revenue", "units", "retailers", "trend"),
    "segment": ("name", "revenue", "units", "retailers", "trend"),
    "size": ("name", "revenue", "units", "retailers", "trend"),
    "category": ("name", "revenue", "units", "products", "trend"),
    "retailer": ("name", "revenue", "units", "trend", "last_order"),
}
COLUMN_LABELS = {
    "revenue": "Revenue",
    "units": "Units",
    "retailers": "Retailers",
    "products": "Products sold",
    "trend": "Revenue vs previous",
    "last_order": "Last order",
}
DEFAULT_SORT = "-revenue"
# A longer product list makes the Breakdowns page heavy to render and to use: pick a category first.
FILTER_PRODUCTS = 300
# A retailer's region, segment and size are copied into every rollup row at one refresh, so each retailer is
# in exactly one (region, segment, size) group: one query grouped by all three answers the three tables, and
# its retailer counts add up.
PROFILE = ("region", "segment", "size")


@dataclass(frozen=True)
class DemandFilter:
    """The vendor's own category and product a Breakdowns page is narrowed to."""

    category: Category | None = None
    category_ids: tuple[int, ...] = ()
    product: Product | None = None

    @property
    def is_active(self) -> bool:
        return self.category is not None or self.product is not None


@dataclass(frozen=True)
class BreakdownRow:
    key: str | int | None
    name: str
    units: int
    revenue: Decimal
    previous_units: int
    previous_revenue: Decimal
    share: float
    # Each filled only for the tables that have the column (COLUMNS).
    retailers: int | None = None
    products: int | None = None
    last_order: date | None = None

    @property
    def revenue_change(self) -> float | None:
        return change_percent(self.revenue, self.previous_revenue)


@dataclass(frozen=True)
class Breakdown:
    dimension: str
    sort: str
    rows: list[BreakdownRow]
    total_revenue: Decimal

    @property
    def label(self) -> str:
        return DIMENSION_LABELS[self.dimension]

    @property
    def columns(self) -> tuple[str, ...]:
        return COLUMNS[self.dimension]

    def spec(self, *, limit: int = 12) -> dict:
        top = sorted(self.rows, key=lambda row: (-row.revenue, row.name))[:limit]
        return {
            "labels": [row.name for row in top],
            "series": [
                {
                    "label": "Revenue (£)",
                    "values": [float(r.revenue) for r in top],
                    "style": "bar",
                    "axis": "left",
                },
                {
                    "label": "Previous period (£)",
                    "values": [float(r.previous_revenue) for r in top],
                    "style": "line",
                    "axis": "left",
                },
            ],
            "band80": None,
            "band95": None,
            "y_label": "Revenue (£)",
        }


def vendor_categories(*, vendor_id: int) -> list[Category]:
    """The categories of the vendor's products and their parents (for the filter), by name."""
    used = Category.objects.filter(
        Q(products__vendor_id=vendor_id) | Q(children__products__vendor_id=vendor_id)
    ).distinct()
    return sorted(used.select_related("parent"), key=str)


def vendor_filter_products(
    *, vendor_id: int, category_ids: tuple[int, ...], limit: int = FILTER_PRODUCTS
) -> list[Product] | None:
    """The vendor's products the product filter offers: those of the chosen category, or all of them when
    there are at most `limit`; None when there are more (the page asks for a category first)."""
    products = Product.objects.filter(vendor_id=vendor_id).only("pk", "name", "sku").order_by("name", "pk")
    if category_ids:
        products = products.filter(category_id__in=category_ids)
    offered = list(products[: limit + 1])
    return None if len(offered) > limit else offered


def demand_filter(*, vendor_id: int, category_id: str | None, product_id: str | None) -> DemandFilter:
    """The filter from the GET parameters: an id that is not one of the vendor's own is a 404, never data."""
    category, category_ids, product = None, (), None
    if category_id:
        if not category_id.isdigit():
            raise Http404("No such category.")
        category = (
            Category.objects.filter(
                Q(products__vendor_id=vendor_id) | Q(children__products__vendor_id=vendor_id), pk=category_id
            )
            .select_related("parent")
            .distinct()
            .first()
        )
        if category is None:
            raise Http404("No such category among your products.")
        category_ids = (category.pk, *category.children.values_list("pk", flat=True))
    if product_id:
        if not product_id.isdigit():
            raise Http404("No such product.")
        product = Product.objects.filter(vendor_id=vendor_id, pk=product_id).first()
        if product is None:
            raise Http404("No such product among yours.")
    return DemandFilter(category=category, category_ids=category_ids, product=product)


def parse_sort(value: str | None, *, dimension: str) -> str:
    """The table's sort from a GET value: a column of the table, "-" for descending; else by revenue."""
    value = value or DEFAULT_SORT
    name = value.removeprefix("-")
    if name not in COLUMNS[dimension]:
        return DEFAULT_SORT
    return value


def _facts(*, vendor_id: int, period: Period, filters: DemandFilter) -> QuerySet:
    facts = SalesFact.objects.filter(vendor_id=vendor_id, day__gte=period.previous.start, day__lte=period.end)
    if filters.category_ids:
        facts = facts.filter(category_id__in=filters.category_ids)
    if filters.product is not None:
        facts = facts.filter(product_id=filters.product.pk)
    return facts


def _grouped(*, vendor_id: int, dimension: str, period: Period, filters: DemandFilter) -> QuerySet:
    """One row per group with b_units, b_revenue, b_prev_units, b_prev_revenue and the table's own columns.

    The smallest rollup that answers: ProductPeriod for categories over a preset period, RetailerDay for the
    retailer dimensions, SalesFact (over the period and the one before only) for custom ranges by category and
    whenever a category or product filter narrows the figures.
    """
    if dimension == "category" and period.is_preset and not filters.is_active:
        return (
            ProductPeriod.objects.filter(vendor_id=vendor_id, days=period.days)
            .values("category_id")
            .annotate(
                b_units=Sum("units"),
                b_revenue=Sum("revenue"),
                b_prev_units=Sum("previous_units"),
                b_prev_revenue=Sum("previous_revenue"),
                b_products=Count("product_id", filter=Q(units__gt=0)),
            )
            .filter(b_units__gt=0)
            .order_by()
        )
    current, before = Q(day__gte=period.start), Q(day__lt=period.start)
    if dimension == "category" or filters.is_active:
        source = _facts(vendor_id=vendor_id, period=period, filters=filters)
    else:
        source = RetailerDay.objects.filter(
            vendor_id=vendor_id, day__gte=period.previous.start, day__lte=period.end
        )
    extra: dict = {}
    if dimension == "category":
        extra["b_products"] = Count("product_id", filter=current, distinct=True)
    elif dimension == "retailer":
        extra["b_last"] = Max("day", filter=current)
    else:
        extra["b_retailers"] = Count("retailer_id", filter=current, distinct=True)
    groups = {"retailer": ("retailer_id", "retailer__name"), "category": ("category_id",)}.get(
        dimension, PROFILE
    )
    grouped = (
        source.values(*groups)
        .annotate(
            b_units=Sum("units", filter=current, default=0),
            b_revenue=Sum("revenue", filter=current, default=_ZERO, output_field=_MONEY),
            b_prev_units=Sum("units", filter=before, default=0),
            b_prev_revenue=Sum("revenue", filter=before, default=_ZERO, output_field=_MONEY),
            **extra,
        )
        .order_by()
    )
    # The profile groups are summed into regions, segments and sizes afterwards: a group without sales in the
    # period still carries its previous-period figures there.
    return grouped if dimension in PROFILE else grouped.filter(b_units__gt=0)


def _dimension_names(dimension: str, rows: list[dict]) -> dict[object, str]:
    if dimension == "retailer":
        return {row["retailer_id"]: row["retailer__name"] for row in rows}
    if dimension == "category":
        keys = [row["category_id"] for row in rows]
        named = {
            category.pk: str(category)
            for category in Category.objects.filter(pk__in=[key for key in keys if key]).select_related(
                "parent"
            )
        }
        return {key: named.get(key, "No category") for key in keys}
    keys = [row[dimension] for row in rows]
    if dimension == "region":
        return {key: key or "Region not given" for key in keys}
    choices = Retailer.Segment if dimension == "segment" else Retailer.Size
    return {key: choices(key).label if key in choices.values else key for key in keys}


def _tie_key(key: object) -> tuple[int, object]:
    # Group keys are all ints (ids) or all strings within one table; a missing category sorts last.
    return (1, 0) if key is None else (0, key)


def _ordered(rows: list[BreakdownRow], sort: str) -> list[BreakdownRow]:
    name, descending = sort.removeprefix("-"), sort.startswith("-")

    def key(row: BreakdownRow) -> object:
        if name == "name":
            return row.name.casefold()
        if name == "trend":
            # A group new in this period ranks above any growth.
            change = row.revenue_change
            return float("inf") if change is None else change
        if name == "last_order":
            return row.last_order or date.min
        return getattr(row, name)

    # Ties by name, so the order is stable across requests and pages (as in _retailer_ordering).
    by_name = sorted(rows, key=lambda row: (row.name.casefold(), _tie_key(row.key)))
    return sorted(by_name, key=key, reverse=descending)


def _breakdown_row(row: dict, *, group: str, name: str, total: Decimal) -> BreakdownRow:
    return BreakdownRow(
        key=row[group],
        name=name,
        units=row["b_units"],
        revenue=row["b_revenue"],
        previous_units=row["b_prev_units"],
        previous_revenue=row["b_prev_revenue"],
        share=float(row["b_revenue"] * 100 / total) if total else 0.0,
        retailers=row.get("b_retailers"),
        products=row.get("b_products"),
        last_order=row.get("b_last"),
    )


def _profile_breakdown(rows: list[dict], *, dimension: str, sort: str) -> Breakdown:
    merged: dict[str, dict] = {}
    for row in rows:
        into = merged.setdefault(
            row[dimension],
            {dimension: row[dimension], "b_units": 0, "b_revenue": _ZERO, "b_prev_units": 0}
            | {"b_prev_revenue": _ZERO, "b_retailers": 0},
        )
        for column in ("b_units", "b_revenue", "b_prev_units", "b_prev_revenue", "b_retailers"):
            into[column] += row[column]
    sold = [row for row in merged.values() if row["b_units"] > 0]
    return _breakdown(dimension, sold, sort)


def _breakdown(dimension: str, grouped: list[dict], sort: str) -> Breakdown:
    group = {"category": "category_id", "retailer": "retailer_id"}.get(dimension, dimension)
    names = _dimension_names(dimension, grouped)
    total = sum((row["b_revenue"] for row in grouped), _ZERO)
    rows = [_breakdown_row(row, group=group, name=names[row[group]], total=total) for row in grouped]
    sort = parse_sort(sort, dimension=dimension)
    return Breakdown(dimension=dimension, sort=sort, rows=_ordered(rows, sort), total_revenue=total)


def vendor_breakdown(
    *, vendor_id: int, dimension: str, period: Period, filters: DemandFilter, sort: str = DEFAULT_SORT
) -> Breakdown:
    """Demand by one dimension in the period (groups with units in it), with each group's share of revenue and
    its change against the previous period. One query, two for categories (their names).

    The retailer rows are only retailers that bought the vendor's products: the vendor's own customers.
    """
    grouped = list(_grouped(vendor_id=vendor_id, dimension=dimension, period=period, filters=filters))
    if dimension in PROFILE:
        return _profile_breakdown(grouped, dimension=dimension, sort=sort)
    return _breakdown(dimension, grouped, sort)


def vendor_profile_breakdowns(
    *, vendor_id: int, period: Period, filters: DemandFilter, sorts: dict[str, str]
) -> dict[str, Breakdown]:
    """The region, segment and size tables from one query."""
    grouped = list(_grouped(vendor_id=vendor_id, dimension="region", period=period, filters=filters))
    return {
        dimension: _profile_breakdown(grouped, dimension=dimension, sort=sorts.get(dimension, DEFAULT_SORT))
        for dimension in PROFILE
    }


class _CountedPaginator(Paginator):
    """A paginator told its count: the count comes with the table's total in one aggregate query."""

    def __init__(self, object_list: QuerySet, per_page: int, *, count: int) -> None:
        super().__init__(object_list, per_page)
        self.__dict__["count"] = count


@dataclass(frozen=True)
class RetailerPage:
    breakdown: Breakdown  # the rows of this page only
    page: Page
    top: Breakdown  # the largest retailers by revenue, for the chart (empty without it)


def _retailer_ordering(sort: str) -> list:
    """The SQL twin of _ordered for the retailer table: same keys, same ties."""
    name, descending = sort.removeprefix("-"), sort.startswith("-")
    ties = [Lower("retailer__name"), "retailer_id"]
    if name == "name":
        first = [Lower("retailer__name").desc() if descending else Lower("retailer__name").asc()]
    elif name == "trend":
        # New retailers (nothing before) rank above any growth, as in _ordered.
        first = [
            F("b_new").desc() if descending else F("b_new").asc(),
            F("b_growth").desc(nulls_last=True) if descending else F("b_growth").asc(nulls_first=True),
        ]
    else:
        column = {"revenue": "b_revenue", "units": "b_units", "last_order": "b_last"}[name]
        first = [F(column).desc() if descending else F(column).asc()]
    return [*first, *ties]


def _retailers_ordered(grouped: QuerySet, sort: str) -> QuerySet:
    return grouped.annotate(
        b_new=Case(When(b_prev_revenue=0, then=Value(1)), default=Value(0), output_field=IntegerField()),
        b_growth=ExpressionWrapper(
            (F("b_revenue") - F("b_prev_revenue")) / NullIf(F("b_prev_revenue"), Value(0)),
            output_field=FloatField(),
        ),
    ).order_by(*_retailer_ordering(sort))


def vendor_retailer_page(
    *,
    vendor_id: int,
    period: Period,
    filters: DemandFilter,
    sort: str,
    page_number: str | int | None,
    page_size: int,
    chart_rows: int = 12,
    with_chart: bool = True,
) -> RetailerPage:
    """One page of the retailer table, sorted and sliced in SQL: a vendor with thousands of retailers sends
    one page of rows to Python, not all of them. Three queries: count and total, the page, the chart's top
    retailers (none when the page already is the top by revenue, or `with_chart` is off: an htmx page swap).
    """
    sort = parse_sort(sort, dimension="retailer")
    grouped = _grouped(vendor_id=vendor_id, dimension="retailer", period=period, filters=filters)
    stats = grouped.aggregate(groups=Count("retailer_id"), total=Sum("b_revenue"))
    total = stats["total"] or _ZERO
    ordered = _retailers_ordered(grouped, sort)
    page = _CountedPaginator(ordered, page_size, count=stats["groups"]).get_page(page_number)

    def rows(queryset: Iterable[dict]) -> list[BreakdownRow]:
        return [
            _breakdown_row(row, group="retailer_id", name=row["retailer__name"], total=total)
            for row in queryset
        ]

    page.object_list = rows(page.object_list)
    if not with_chart:
        top = []
    elif sort == DEFAULT_SORT and page.number == 1:
        top = page.object_list[:chart_rows]
    else:
        top = rows(ordered.order_by(*_retailer_ordering(DEFAULT_SORT))[:chart_rows])
    return RetailerPage(
        breakdown=Breakdown(dimension="retailer", sort=sort, rows=page.object_list, total_revenue=total),
        page=page,
        top=Breakdown(dimension="retailer", sort=DEFAULT_SORT, rows=top, total_revenue=total),
    )


# The columns of a RetailerRows row, in this order.
RETAILER_ROW_FIELDS = ("retailer__name", "b_units", "b_revenue", "b_prev_units", "b_prev_revenue", "b_last")


@dataclass(frozen=True)
class RetailerRows:
    """Every row of the retailer table as plain tuples (RETAILER_ROW_FIELDS), for a download of thousands."""

    sort: str
    total_revenue: Decimal
    rows: list[tuple[str, int, Decimal, int, Decimal, date | None]]


def vendor_retailer_rows(*, vendor_id: int, period: Period, filters: DemandFilter, sort: str) -> RetailerRows:
    """The whole retailer table sorted in SQL as vendor_retailer_page sorts it, read as tuples: a CSV of
    thousands of retailers builds no BreakdownRow per retailer. One query: the total (for the shares) is
    summed from the rows, as vendor_breakdown sums it, rather than by a second pass over the rollup."""
    sort = parse_sort(sort, dimension="retailer")
    grouped = _grouped(vendor_id=vendor_id, dimension="retailer", period=period, filters=filters)
    rows = list(_retailers_ordered(grouped, sort).values_list(*RETAILER_ROW_FIELDS))
    total = sum((row[2] for row in rows), _ZERO)
    return RetailerRows(sort=sort, total_revenue=total, rows=rows)
