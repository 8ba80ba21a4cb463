"""The vendor portal's Overview and Breakdowns pages and their CSV downloads.

The tenant comes from the signed-in member only (request.user.vendor, guaranteed by @vendor_required); no URL
parameter can point at another vendor, and a category or product id that is not the vendor's own is a 404.
"""

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from django.core.paginator import Page
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from accounts.decorators import vendor_required
from accounts.selectors import user_page_size
from vendors import selectors
from vendors.exports import csv_response
from vendors.models import VendorAnalytics
from vendors.periods import Period, period_from_request

_PENNY = Decimal("0.01")
OVERVIEW_TABLES = ("kpis", "weekly", "rising", "falling")
DEMAND_PAGE_SIZE_MAX = 100
_NUMERIC_COLUMNS = frozenset({"revenue", "units", "retailers", "products"})


def _period(request: HttpRequest, analytics: VendorAnalytics | None) -> tuple[Period | None, list[str]]:
    if analytics is None or analytics.as_of is None:
        return None, []
    return period_from_request(request, as_of=analytics.as_of)


def _base_context(request: HttpRequest, tab: str) -> dict[str, Any]:
    analytics = selectors.vendor_analytics(vendor_id=request.user.vendor_id)
    period, errors = _period(request, analytics)
    return {"vendor_tab": tab, "analytics": analytics, "period": period, "period_errors": errors}


def _overview_data(vendor_id: int, analytics: VendorAnalytics, period: Period) -> dict[str, Any]:
    rising, falling = selectors.vendor_movers(vendor_id=vendor_id, period=period)
    return {
        "kpis": selectors.vendor_kpis(vendor_id=vendor_id, period=period),
        "demand": selectors.vendor_demand_chart(vendor_id=vendor_id, analytics=analytics),
        "rising": rising,
        "falling": falling,
    }


@require_GET
@vendor_required
def home(request: HttpRequest) -> HttpResponse:
    context = _base_context(request, "overview")
    if context["period"] is not None:
        context |= _overview_data(request.user.vendor_id, context["analytics"], context["period"])
        context["demand_spec"] = context["demand"].spec()
    return render(request, "vendors/home.html", context)


def _percent(value: float | None) -> float | str:
    # A number, not text: csv_response escapes text starting with "-" (a formula), never a number.
    return "" if value is None else round(value, 1)


def _overview_rows(table: str, data: dict[str, Any]) -> tuple[list[str], Iterator[list[object]]]:
    if table == "kpis":
        kpis = data["kpis"]
        header = [
            "measure",
            "period",
            "previous period",
            "change vs previous (% or points)",
            "a year earlier",
            "change vs a year earlier (% or points)",
        ]
        rows = (
            [
                row.label,
                _round(row.current),
                _round(row.previous),
                _percent(row.previous_change),
                "no data a year earlier" if row.year_ago is None else _round(row.year_ago),
                _percent(row.year_ago_change),
            ]
            for row in kpis.comparisons
        )
        return header, rows
    if table == "weekly":
        header = ["week", "units", "revenue", "forecast units", "80% low", "80% high", "95% low", "95% high"]
        rows = (
            [
                week.week.isoformat(),
                week.units,
                _money(week.revenue),
                _round(week.point),
                _round(week.lo80),
                _round(week.hi80),
                _round(week.lo95),
                _round(week.hi95),
            ]
            for week in data["demand"].weeks
        )
        return header, rows
    header = [
        "sku",
        "product",
        "units",
        "previous units",
        "change in units",
        "change (%)",
        "revenue",
        "previous revenue",
    ]
    rows = (
        [
            mover.sku,
            mover.name,
            mover.units,
            mover.previous_units,
            mover.units_delta,
            _percent(mover.units_change),
            _money(mover.revenue),
            _money(mover.previous_revenue),
        ]
        for mover in data[table]
    )
    return header, rows


def _money(value: Decimal | None) -> Decimal | None:
    # SQLite sums money as a float-backed Decimal ("7.5"); a download always shows pence.
    return None if value is None else Decimal(value).quantize(_PENNY)


def _round(value: object) -> object:
    if isinstance(value, Decimal):
        return _money(value)
    if isinstance(value, float):
        return round(value, 2)
    return value


@require_GET
@vendor_required
def overview_csv(request: HttpRequest, table: str) -> StreamingHttpResponse:
    if table not in OVERVIEW_TABLES:
        raise Http404("No such table.")
    context = _base_context(request, "overview")
    if context["period"] is None:
        raise Http404("No figures yet.")
    data = _overview_data(request.user.vendor_id, context["analytics"], context["period"])
    header, rows = _overview_rows(table, data)
    return csv_response(filename=_filename(f"overview-{table}", context["period"]), header=header, rows=rows)


def _filename(name: str, period: Period) -> str:
    return f"{name}-{period.start.isoformat()}-to-{period.end.isoformat()}.csv"


# --- Breakdowns


def _sorts(request: HttpRequest) -> dict[str, str]:
    return {
        dimension: selectors.parse_sort(request.GET.get(f"{dimension}_sort"), dimension=dimension)
        for dimension in selectors.DIMENSIONS
    }


def _demand_filter(request: HttpRequest) -> selectors.DemandFilter:
    return selectors.demand_filter(
        vendor_id=request.user.vendor_id,
        category_id=request.GET.get("category"),
        product_id=request.GET.get("product"),
    )


def _breakdown(
    request: HttpRequest, dimension: str, period: Period, filters: selectors.DemandFilter, sort: str
) -> selectors.Breakdown:
    return selectors.vendor_breakdown(
        vendor_id=request.user.vendor_id, dimension=dimension, period=period, filters=filters, sort=sort
    )


def _table(
    request: HttpRequest,
    dimension: str,
    period: Period,
    filters: selectors.DemandFilter,
    sort: str,
    *,
    with_chart: bool = True,
) -> dict[str, Any]:
    """One breakdown table's context; the retailer table is one page, sorted and sliced in SQL."""
    if dimension == "retailer":
        retailers = selectors.vendor_retailer_page(
            vendor_id=request.user.vendor_id,
            period=period,
            filters=filters,
            sort=sort,
            page_number=request.GET.get("page"),
            page_size=min(user_page_size(user=request.user), DEMAND_PAGE_SIZE_MAX),
            with_chart=with_chart,
        )
        breakdown, page, chart = retailers.breakdown, retailers.page, retailers.top
    else:
        breakdown = _breakdown(request, dimension, period, filters, sort)
        page, chart = None, breakdown
    return _table_context(request, breakdown, page=page, chart=chart)


def _query(request: HttpRequest, *, dropped: tuple[str, ...], **added: str) -> str:
    """The current query string less `dropped` and `added`'s keys, then `added`: links keep the page's period,
    filters and other tables' sorts."""
    removed = (*dropped, *added)
    params = [(key, value) for key, values in request.GET.lists() if key not in removed for value in values]
    return "?" + urlencode([*params, *added.items()])


def _headers(request: HttpRequest, breakdown: selectors.Breakdown) -> list[dict[str, object]]:
    """Each column header's label, sort link and aria-sort, built once per table (never in a table cell).

    A link sorts by its column descending first, ascending when already so, and starts at the first page."""
    param = f"{breakdown.dimension}_sort"
    headers = []
    for column in breakdown.columns:
        aria = {column: "ascending", f"-{column}": "descending"}.get(breakdown.sort, "")
        target = column if breakdown.sort == f"-{column}" else f"-{column}"
        headers.append(
            {
                "label": breakdown.label if column == "name" else selectors.COLUMN_LABELS[column],
                "num": column in _NUMERIC_COLUMNS,
                "aria_sort": aria,
                "url": _query(request, dropped=("page",), **{param: target}),
            }
        )
    return headers


def _table_context(
    request: HttpRequest,
    breakdown: selectors.Breakdown,
    *,
    page: Page | None = None,
    chart: selectors.Breakdown | None = None,
) -> dict[str, Any]:
    columns = set(breakdown.columns)
    return {
        "breakdown": breakdown,
        "headers": _headers(request, breakdown),
        # The body's optional columns; the template writes the cells in COLUMNS' order.
        "shows": {column: column in columns for column in ("retailers", "products", "last_order")},
        "page": page,
        "previous_url": _query(request, dropped=(), page=str(page.previous_page_number()))
        if page is not None and page.has_previous()
        else "",
        "next_url": _query(request, dropped=(), page=str(page.next_page_number()))
        if page is not None and page.has_next()
        else "",
        "spec": (chart or breakdown).spec(),
        "chart_id": f"chart-{breakdown.dimension}",
    }


@require_GET
@vendor_required
def demand(request: HttpRequest) -> HttpResponse:
    context = _base_context(request, "demand")
    filters = _demand_filter(request)
    # Every table's download link keeps the page's period, filters and sorts, never its retailer page.
    context |= {"filters": filters, "csv_query": _query(request, dropped=("page",))}
    period = context["period"]
    if period is None:
        return render(request, "vendors/demand.html", context)
    sorts = _sorts(request)
    # An htmx request re-renders the one table it targets (a sort or a page of the retailers).
    target = (request.htmx.target or "").removeprefix("table-") if request.htmx else ""
    if target in selectors.DIMENSIONS:
        return render(
            request,
            f"vendors/demand.html#table-{target}",
            # The chart stays outside the swapped table: it is not rebuilt.
            context | {"table": _table(request, target, period, filters, sorts[target], with_chart=False)},
        )
    profile = selectors.vendor_profile_breakdowns(
        vendor_id=request.user.vendor_id, period=period, filters=filters, sorts=sorts
    )
    context["tables"] = [
        _table_context(request, profile[dimension])
        if dimension in profile
        else _table(request, dimension, period, filters, sorts[dimension])
        for dimension in selectors.DIMENSIONS
    ]
    context["categories"] = selectors.vendor_categories(vendor_id=request.user.vendor_id)
    context["filter_products"] = selectors.vendor_filter_products(
        vendor_id=request.user.vendor_id, category_ids=filters.category_ids
    )
    return render(request, "vendors/demand.html", context)


_CSV_HEADERS = {
    "revenue": "revenue",
    "units": "units",
    "retailers": "retailers",
    "products": "products sold",
    "trend": "revenue change vs previous (%)",
    "last_order": "last order in period",
}


def _csv_value(row: selectors.BreakdownRow, column: str) -> object:
    if column == "trend":
        return _percent(row.revenue_change)
    if column == "last_order":
        return row.last_order.isoformat() if row.last_order else ""
    if column == "revenue":
        return _money(row.revenue)
    return getattr(row, column)


@require_GET
@vendor_required
def demand_csv(request: HttpRequest, table: str) -> StreamingHttpResponse:
    if table not in selectors.DIMENSIONS:
        raise Http404("No such table.")
    analytics = selectors.vendor_analytics(vendor_id=request.user.vendor_id)
    period, _ = _period(request, analytics)
    if period is None:
        raise Http404("No figures yet.")
    filters = _demand_filter(request)
    sort = _sorts(request)[table]
    columns = [column for column in selectors.COLUMNS[table] if column != "name"]
    header = [
        selectors.DIMENSION_LABELS[table].lower(),
        *(_CSV_HEADERS[column] for column in columns),
        "share of revenue (%)",
        "previous units",
        "previous revenue",
    ]
    filename = _filename(f"demand-by-{table}", period)
    if table == "retailer":
        retailers = selectors.vendor_retailer_rows(
            vendor_id=request.user.vendor_id, period=period, filters=filters, sort=sort
        )
        return csv_response(filename=filename, header=header, rows=_retailer_csv_rows(retailers))
    breakdown = _breakdown(request, table, period, filters, sort)
    rows = (
        [
            row.name,
            *(_csv_value(row, column) for column in columns),
            round(row.share, 1),
            row.previous_units,
            _money(row.previous_revenue),
        ]
        for row in breakdown.rows
    )
    return csv_response(filename=filename, header=header, rows=rows)


def _retailer_csv_rows(retailers: selectors.RetailerRows) -> Iterator[list[object]]:
    """The retailer CSV's rows straight from the SQL tuples, in the columns of selectors.COLUMNS["retailer"]
    (revenue, units, trend, last order) then share and the previous period: the same figures as the other
    tables' rows (BreakdownRow), without building one per retailer."""
    total = retailers.total_revenue
    for name, units, revenue, previous_units, previous_revenue, last_order in retailers.rows:
        yield [
            name,
            _money(revenue),
            units,
            _percent(selectors.change_percent(revenue, previous_revenue)),
            last_order.isoformat() if last_order else "",
            round(float(revenue * 100 / total) if total else 0.0, 1),
            previous_units,
            _money(previous_revenue),
        ]
