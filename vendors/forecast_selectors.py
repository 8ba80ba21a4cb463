"""Reads for the forecasts page: the live run's stored forecasts, its backtest, and the bottom-up figure built
from the retailers' own due-for-reorder predictions.

The forecasts are computed by a task and stored (vendors.models.ForecastRun); nothing here fits a model. The
page reads the run VendorAnalytics.forecast_run points at, so a run being written is never half-shown.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncWeek

from catalog.models import Product
from recommendations.models import ModelVersion, ReorderPrediction
from vendors import product_selectors
from vendors.models import ForecastRun, ProductForecast, RetailerDay, Vendor, VendorAnalytics
from vendors.weekly import WeekRow, weeks_with_forecast

REORDER_WINDOW_DAYS = 14
# The statistical forecast is weekly: its first two weeks are set beside the 14-day bottom-up window.
COMPARISON_WEEKS = 2
SORTS = {
    "-units": ("-horizon_units", "product__name", "product_id"),
    "units": ("horizon_units", "product__name", "product_id"),
    "name": ("product__name", "product_id"),
}
SORT_LABELS = (("-units", "most expected units"), ("units", "fewest expected units"), ("name", "name"))
DEFAULT_SORT = "-units"
BACKTEST_METRICS = ("wape", "mase", "bias", "coverage@80", "coverage@95")


@dataclass(frozen=True)
class ReorderFigures:
    reorders: int
    units: int
    retailers: int


NO_REORDERS = ReorderFigures(reorders=0, units=0, retailers=0)


@dataclass(frozen=True)
class BacktestRow:
    method: str
    wape: float | None
    mase: float | None
    bias: float | None
    coverage80: float | None
    coverage95: float | None
    seconds: float | None


def live_run(analytics: VendorAnalytics | None) -> ForecastRun | None:
    return analytics.forecast_run if analytics is not None else None


def latest_run(*, vendor: Vendor) -> ForecastRun | None:
    """The newest run of any status: before the first run is live, the page says whether one is under way."""
    return ForecastRun.objects.filter(vendor=vendor).order_by("-started_at").first()


# What the page, its forecasts CSV and its methods CSV read of a product's forecast: the per-method backtest
# `candidates` and the product's description, price etc. are left in the table, so the sort of every product
# of the run (thousands for a large vendor) carries only what is shown. A field missing here would cost one
# query per row.
PRODUCT_FORECAST_FIELDS = (
    "product_id",
    "product__sku",
    "product__name",
    "method_label",
    "reason",
    "naive_fallback",
    "backtest_wape",
    "naive_wape",
    "weeks",
    "horizon_units",
)
TOTAL_FORECAST_FIELDS = ("method_label", "reason", "weeks")


def product_forecasts(*, run: ForecastRun, sort: str) -> QuerySet[ProductForecast]:
    return (
        ProductForecast.objects.filter(run=run, product__isnull=False)
        .select_related("product")
        .only(*PRODUCT_FORECAST_FIELDS)
        .order_by(*SORTS.get(sort, SORTS[DEFAULT_SORT]))
    )


def total_forecast(*, run: ForecastRun) -> ProductForecast | None:
    return ProductForecast.objects.filter(run=run, product__isnull=True).only(*TOTAL_FORECAST_FIELDS).first()


def total_weeks(*, vendor: Vendor, as_of: date, forecast: ProductForecast | None) -> list[WeekRow]:
    """The vendor's units per full week (from RetailerDay), then the forecast of its total."""
    first, last = product_selectors.history_weeks(as_of)
    units_by_week = {
        row["week"]: row["units"]
        for row in RetailerDay.objects.filter(
            vendor=vendor, day__gte=first, day__lte=last + timedelta(days=6)
        )
        .annotate(week=TruncWeek("day"))
        .values("week")
        .annotate(units=Sum("units"))
        .order_by()
    }
    return weeks_with_forecast(
        first=first, weeks=product_selectors.HISTORY_WEEKS, units_by_week=units_by_week, forecast=forecast
    )


def comparison_point(forecast: ProductForecast | None) -> float | None:
    """The point forecast summed over the first COMPARISON_WEEKS weeks of the horizon."""
    if forecast is None or len(forecast.weeks) < COMPARISON_WEEKS:
        return None
    return sum(float(week["point"]) for week in forecast.weeks[:COMPARISON_WEEKS])


def comparison_weeks(run: ForecastRun) -> tuple[date, date] | None:
    """First and last day of the weeks `comparison_point` sums."""
    if run.last_week is None:
        return None
    first = run.last_week + timedelta(weeks=1)
    return first, first + timedelta(weeks=COMPARISON_WEEKS, days=-1)


def reorder_window(as_of: date) -> tuple[date, date]:
    """The REORDER_WINDOW_DAYS days after the rollups' as-of day (the day after it to the 14th day)."""
    return as_of + timedelta(days=1), as_of + timedelta(days=REORDER_WINDOW_DAYS)


def _due_predictions(*, vendor: Vendor, version: ModelVersion, as_of: date) -> QuerySet[ReorderPrediction]:
    first, last = reorder_window(as_of)
    return ReorderPrediction.objects.filter(
        model_version_id=version.pk,
        product__vendor=vendor,
        expected_date__gte=first,
        expected_date__lte=last,
    )


def _figures(*, reorders: int, units: int | None, retailers: int) -> ReorderFigures:
    return ReorderFigures(reorders=reorders, units=int(units or 0), retailers=retailers)


def expected_reorders_by_product(
    *, vendor: Vendor, version: ModelVersion | None, as_of: date | None, product_ids: list[int] | None
) -> dict[int, ReorderFigures]:
    """Predicted reorders, their suggested units and retailers per product: for the products asked for, or
    for every product of the vendor with `product_ids=None`."""
    if version is None or as_of is None or product_ids == []:
        return {}
    predictions = _due_predictions(vendor=vendor, version=version, as_of=as_of)
    if product_ids is not None:
        predictions = predictions.filter(product_id__in=product_ids)
    rows = (
        predictions.values("product_id")
        .annotate(
            reorders=Count("id"),
            units=Sum("suggested_quantity"),
            retailers=Count("retailer_id", distinct=True),
        )
        .order_by()
    )
    return {
        row["product_id"]: _figures(reorders=row["reorders"], units=row["units"], retailers=row["retailers"])
        for row in rows
    }


def expected_reorders_total(
    *, vendor: Vendor, version: ModelVersion | None, as_of: date | None
) -> ReorderFigures:
    """The same over all the vendor's products; retailers counted once even when due for several products."""
    if version is None or as_of is None:
        return NO_REORDERS
    row = _due_predictions(vendor=vendor, version=version, as_of=as_of).aggregate(
        reorders=Count("id"),
        units=Coalesce(Sum("suggested_quantity"), 0),
        retailers=Count("retailer_id", distinct=True),
    )
    return _figures(reorders=row["reorders"], units=row["units"], retailers=row["retailers"])


def product_labels(*, vendor: Vendor, product_ids: list[int]) -> dict[int, tuple[str, str]]:
    """(sku, name) of the vendor's products with these ids."""
    return {
        pk: (sku, name)
        for pk, sku, name in Product.objects.filter(vendor=vendor, pk__in=product_ids).values_list(
            "id", "sku", "name"
        )
    }


def backtest_rows(run: ForecastRun) -> list[BacktestRow]:
    """One row per method of the run's rolling-origin backtest, best WAPE first."""

    def metric(values: dict, key: str) -> float | None:
        value = values.get(key)
        return float(value) if isinstance(value, int | float) else None

    rows = [
        BacktestRow(
            method=method,
            wape=metric(values, "wape"),
            mase=metric(values, "mase"),
            bias=metric(values, "bias"),
            coverage80=metric(values, "coverage@80"),
            coverage95=metric(values, "coverage@95"),
            seconds=metric(values, "seconds"),
        )
        for method, values in (run.backtest or {}).items()
        if method != "protocol" and isinstance(values, dict)
    ]
    return sorted(rows, key=lambda row: (row.wape is None, row.wape or 0.0, row.method))


def backtest_protocol(run: ForecastRun) -> dict:
    protocol = (run.backtest or {}).get("protocol")
    return protocol if isinstance(protocol, dict) else {}
