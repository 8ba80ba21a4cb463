"""A product's page, the forecasts and the distribution insights of the vendor portal, with their CSVs.

Every view reads the tenant from `request.user.vendor` only (the role check guarantees it is set): no URL or
query parameter names a vendor, and a product id is looked up among the member's own products (404 otherwise).
Each page builds its context in one function that the page, its htmx partials and its CSVs share, so a CSV
always holds the rows of the page for the same period.
"""

from collections.abc import Iterator
from typing import Any

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.decorators import vendor_required
from accounts.selectors import user_page_size
from recommendations.selectors import active_version
from vendors import forecast_selectors, insights, product_selectors, selectors
from vendors.exports import csv_response
from vendors.models import Vendor, VendorAnalytics
from vendors.periods import period_from_request
from vendors.weekly import weeks_chart_spec

PRODUCT_TEMPLATE = "vendors/product.html"
FORECASTS_TEMPLATE = "vendors/forecasts.html"
INSIGHTS_TEMPLATE = "vendors/insights.html"
# Rows of each insight table shown on the page; the CSV holds all of them.
INSIGHT_ROWS_SHOWN = 25


def _period_context(request: HttpRequest, analytics: VendorAnalytics | None) -> dict[str, Any]:
    if analytics is None or analytics.as_of is None:
        return {"period": None, "period_errors": []}
    period, errors = period_from_request(request, as_of=analytics.as_of)
    return {"period": period, "period_errors": errors}


# --- Product


def _product_context(request: HttpRequest, *, vendor: Vendor, product_id: int) -> dict[str, Any]:
    product = product_selectors.product_for_vendor(vendor=vendor, product_id=product_id)
    analytics = selectors.vendor_analytics(vendor_id=vendor.pk)
    context: dict[str, Any] = {
        "vendor": vendor,
        "vendor_tab": "product",
        "analytics": analytics,
        "product": product,
        **_period_context(request, analytics),
    }
    period = context["period"]
    if period is None:
        return context | {"weeks": [], "stats": None, "regions": [], "bought_with": [], "forecast": None}
    forecast = product_selectors.product_forecast(analytics=analytics, product=product)
    weeks = product_selectors.product_weeks(
        vendor=vendor, product=product, as_of=analytics.as_of, forecast=forecast
    )
    stats, regions = product_selectors.product_buyers(
        vendor=vendor, product=product, start=period.start, end=period.end
    )
    return context | {
        "forecast": forecast,
        "weeks": weeks,
        "weeks_chart": weeks_chart_spec(weeks),
        "stats": stats,
        "regions": regions,
        "bought_with": product_selectors.product_bought_with(product=product, version=active_version()),
    }


@require_GET
@vendor_required
def product(request: HttpRequest, product_id: int) -> HttpResponse:
    context = _product_context(request, vendor=request.user.vendor, product_id=product_id)
    if request.htmx:
        # The period picker swaps only the figures that depend on the period.
        return render(request, f"{PRODUCT_TEMPLATE}#period-figures", context)
    return render(request, PRODUCT_TEMPLATE, context)


# Each product table: its CSV header, the context list it comes from, and one CSV row of a list item.
PRODUCT_TABLES = {
    "weekly": (
        ["week", "units", "forecast", "lo80", "hi80", "lo95", "hi95"],
        "weeks",
        lambda r: [r.week, r.units, r.point, r.lo80, r.hi80, r.lo95, r.hi95],
    ),
    "regions": (["region", "units", "buyers"], "regions", lambda r: [r.region, r.units, r.buyers]),
    "bought-with": (
        ["other_product", "orders_together", "confidence", "lift"],
        "bought_with",
        lambda r: [r.other_name, r.together, r.confidence, r.lift],
    ),
}


@require_GET
@vendor_required
def product_csv(request: HttpRequest, product_id: int, table: str) -> HttpResponse:
    if table not in PRODUCT_TABLES:
        raise Http404("No such table")
    context = _product_context(request, vendor=request.user.vendor, product_id=product_id)
    header, key, to_row = PRODUCT_TABLES[table]
    return csv_response(
        filename=f"product-{context['product'].sku}-{table}{_period_part(context)}.csv",
        header=header,
        rows=[to_row(row) for row in context[key]],
    )


def _period_part(context: dict[str, Any]) -> str:
    period = context.get("period")
    return f"-{period.start:%Y%m%d}-{period.end:%Y%m%d}" if period is not None else ""


# --- Forecasts


def _forecasts_context(request: HttpRequest, *, vendor: Vendor) -> dict[str, Any]:
    analytics = selectors.vendor_analytics(vendor_id=vendor.pk)
    run = forecast_selectors.live_run(analytics)
    sort = request.GET.get("sort", forecast_selectors.DEFAULT_SORT)
    if sort not in forecast_selectors.SORTS:
        sort = forecast_selectors.DEFAULT_SORT
    context: dict[str, Any] = {
        "vendor": vendor,
        "vendor_tab": "forecasts",
        "analytics": analytics,
        "run": run,
        "sort": sort,
        "sort_choices": forecast_selectors.SORT_LABELS,
    }
    if run is None:
        return context | {"latest_run": forecast_selectors.latest_run(vendor=vendor)}
    version = active_version()
    as_of = analytics.as_of
    total = forecast_selectors.total_forecast(run=run)
    weeks = forecast_selectors.total_weeks(vendor=vendor, as_of=as_of, forecast=total) if as_of else []
    return context | {
        "total": total,
        "total_weeks": weeks,
        "total_chart": weeks_chart_spec(weeks),
        "version": version,
        "forecasts": forecast_selectors.product_forecasts(run=run, sort=sort),
        "backtest": forecast_selectors.backtest_rows(run),
        "protocol": forecast_selectors.backtest_protocol(run),
        "comparison_weeks": forecast_selectors.comparison_weeks(run),
        "reorder_window": forecast_selectors.reorder_window(as_of) if as_of else None,
        "reorders_total": forecast_selectors.expected_reorders_total(
            vendor=vendor, version=version, as_of=as_of
        ),
    }


def _forecast_page(request: HttpRequest, context: dict[str, Any]) -> dict[str, Any]:
    """The page of product forecasts, each with its first two weeks and the bottom-up reorders beside it."""
    page = Paginator(context["forecasts"], user_page_size(user=request.user)).get_page(
        request.GET.get("page")
    )
    reorders = forecast_selectors.expected_reorders_by_product(
        vendor=context["vendor"],
        version=context["version"],
        as_of=context["analytics"].as_of,
        product_ids=[row.product_id for row in page.object_list],
    )
    rows = [
        {
            "forecast": row,
            "two_weeks": forecast_selectors.comparison_point(row),
            "reorders": reorders.get(row.product_id, forecast_selectors.NO_REORDERS),
        }
        for row in page.object_list
    ]
    return {"page": page, "rows": rows}


@require_GET
@vendor_required
def forecasts(request: HttpRequest) -> HttpResponse:
    context = _forecasts_context(request, vendor=request.user.vendor)
    if context["run"] is not None:
        context |= _forecast_page(request, context)
        context["total_two_weeks"] = forecast_selectors.comparison_point(context["total"])
    if request.htmx and context["run"] is not None:
        return render(request, f"{FORECASTS_TEMPLATE}#forecast-rows", context)
    return render(request, FORECASTS_TEMPLATE, context)


@require_GET
@vendor_required
def forecasts_csv(request: HttpRequest) -> HttpResponse:
    """Every product's forecast, one row per product and week, in the page's sort order."""
    context = _forecasts_context(request, vendor=request.user.vendor)
    header = ["product_sku", "product", "method", "week", "point", "lo80", "hi80", "lo95", "hi95"]

    def rows() -> Iterator[list[Any]]:
        # Streamed: a large vendor has thousands of products of 8 weeks each.
        if context["run"] is None:
            return
        for row in context["forecasts"].iterator(chunk_size=500):
            for week in row.weeks:
                yield [
                    row.product.sku,
                    row.product.name,
                    row.method_label,
                    week["week"],
                    week["point"],
                    week["lo80"],
                    week["hi80"],
                    week["lo95"],
                    week["hi95"],
                ]

    return csv_response(filename="forecasts.csv", header=header, rows=rows())


@require_GET
@vendor_required
def forecasts_table_csv(request: HttpRequest, table: str) -> HttpResponse:
    if table not in ("backtest", "reorders", "methods"):
        raise Http404("No such table")
    vendor = request.user.vendor
    context = _forecasts_context(request, vendor=vendor)
    rows: list[list[Any]] = []
    if table == "backtest":
        header = ["method", "wape", "mase", "bias", "coverage80", "coverage95", "seconds"]
        if context["run"] is not None:
            rows = [
                [r.method, r.wape, r.mase, r.bias, r.coverage80, r.coverage95, r.seconds]
                for r in context["backtest"]
            ]
    elif table == "methods":
        header = ["product_sku", "product", "method", "reason", "backtest_wape", "naive_wape"]
        if context["run"] is not None:
            rows = [
                [r.product.sku, r.product.name, r.method_label, r.reason, r.backtest_wape, r.naive_wape]
                for r in context["forecasts"]
            ]
    else:
        header = ["product_sku", "product", "predicted_reorders", "suggested_units", "retailers"]
        if context["run"] is not None:
            by_product = forecast_selectors.expected_reorders_by_product(
                vendor=vendor, version=context["version"], as_of=context["analytics"].as_of, product_ids=None
            )
            names = forecast_selectors.product_labels(vendor=vendor, product_ids=list(by_product))
            rows = [
                [*names[product_id], figures.reorders, figures.units, figures.retailers]
                for product_id, figures in sorted(by_product.items(), key=lambda item: -item[1].units)
            ]
    return csv_response(filename=f"forecasts-{table}.csv", header=header, rows=rows)


# --- Insights


def _insights_context(request: HttpRequest, *, vendor: Vendor) -> dict[str, Any]:
    analytics = selectors.vendor_analytics(vendor_id=vendor.pk)
    context: dict[str, Any] = {
        "vendor": vendor,
        "vendor_tab": "insights",
        "analytics": analytics,
        "min_group": insights.MIN_GROUP_RETAILERS,
        "lapse_factor": insights.LAPSE_FACTOR,
        "min_order_days": insights.MIN_ORDER_DAYS,
        "prospect_anchors": insights.PROSPECT_ANCHORS,
        "rows_shown": INSIGHT_ROWS_SHOWN,
        **_period_context(request, analytics),
    }
    period = context["period"]
    if period is None:
        return context | {"insights": None}
    return context | {
        "insights": insights.vendor_insights(
            analytics=analytics, version=active_version(), start=period.start, end=period.end
        )
    }


@require_GET
@vendor_required
def insights_page(request: HttpRequest) -> HttpResponse:
    context = _insights_context(request, vendor=request.user.vendor)
    if request.htmx:
        return render(request, f"{INSIGHTS_TEMPLATE}#period-figures", context)
    return render(request, INSIGHTS_TEMPLATE, context)


INSIGHT_TABLES = {
    "penetration": (
        [
            "product",
            "dimension",
            "group",
            "buyers",
            "active_retailers",
            "penetration",
            "category",
            "category_products",
            "category_average",
            "sentence",
        ],
        lambda r: [
            r.product_name,
            r.dimension,
            r.group_label,
            r.buyers,
            r.active_retailers,
            round(r.penetration, 4),
            r.category_name,
            r.category_products,
            round(r.category_average, 4),
            r.sentence,
        ],
    ),
    "prospects": (
        [
            "product",
            "bought_with",
            "region",
            "segment",
            "lift",
            "bought_with_buyers",
            "buying_both",
            "prospects",
            "sentence",
        ],
        lambda r: [
            r.product_name,
            r.anchor_name,
            r.region,
            insights.segment_label(r.segment),
            round(r.lift, 2),
            r.anchor_buyers,
            r.both_buyers,
            r.prospects,
            r.sentence,
        ],
    ),
    "lapsing": (
        [
            "retailer",
            "region",
            "segment",
            "order_days",
            "orders",
            "median_interval_days",
            "last_ordered",
            "days_since",
            "overdue_ratio",
            "sentence",
        ],
        lambda r: [
            r.retailer_name,
            r.region,
            insights.segment_label(r.segment),
            r.order_days,
            r.orders,
            r.median_interval,
            r.last_ordered,
            r.days_since,
            round(r.overdue_ratio, 2),
            r.sentence,
        ],
    ),
}


@require_GET
@vendor_required
def insights_csv(request: HttpRequest, table: str) -> HttpResponse:
    if table not in INSIGHT_TABLES:
        raise Http404("No such table")
    context = _insights_context(request, vendor=request.user.vendor)
    header, to_row = INSIGHT_TABLES[table]
    found = context["insights"]
    rows = [to_row(row) for row in getattr(found, table)] if found is not None else []
    return csv_response(filename=f"insights-{table}{_period_part(context)}.csv", header=header, rows=rows)
