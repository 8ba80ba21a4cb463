"""Writes of the vendor analytics: the sales rollups the pages read and the stored forecasts.

Both are rebuilt per vendor by Celery tasks (vendors.tasks), never on a request: the rollups hourly and
after an import or a retrain, the forecasts nightly and after a retrain.
"""

import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from django.db import connection, transaction
from django.db.models import Count, DecimalField, ExpressionWrapper, F, Max, Q, QuerySet, Sum, Value
from django.db.models.functions import TruncDate
from django.utils import timezone

from orders.models import Order, OrderLine
from vendors.models import (
    ForecastRun,
    ProductForecast,
    ProductPeriod,
    RetailerDay,
    SalesFact,
    Vendor,
    VendorAnalytics,
)
from vendors.periods import PRESET_DAYS

if TYPE_CHECKING:
    from pandas import DataFrame

    from vendors.forecasting import BacktestReport, SeriesForecast

logger = logging.getLogger(__name__)

FORECAST_HORIZON = 8
FORECAST_RUNS_KEPT = 3
TOTAL_SERIES = "total"
_MONEY = DecimalField(max_digits=16, decimal_places=2)


def _insert_select(model: type, columns: list[str], queryset: QuerySet) -> int:
    """INSERT INTO model (columns) SELECT ...: the rows never travel through Python.

    The SELECT is compiled by the ORM, so the day truncation and the aggregates are right for PostgreSQL and
    SQLite alike; Django 5.2 selects values() in the order given, which is the order of `columns`.
    """
    sql, params = queryset.query.get_compiler(using=queryset.db).as_sql()
    quoted = ", ".join(connection.ops.quote_name(column) for column in columns)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {model._meta.db_table} ({quoted}) {sql}", params)
        return cursor.rowcount


def platform_as_of() -> date | None:
    """The day of the latest placed order on the platform, never later than today (UTC); None without orders.

    Imported history can end long before today; anchoring on it keeps "last 30 days" meaningful for that data
    while behaving like a live "last 30 days" once the portal takes orders every day.
    """
    latest = Order.objects.filter(status=Order.Status.PLACED).aggregate(latest=Max("placed_at"))["latest"]
    if latest is None:
        return None
    return min(latest.astimezone(UTC).date(), timezone.now().date())


def _placed_lines(vendor_id: int, as_of: date) -> QuerySet[OrderLine]:
    return (
        OrderLine.objects.filter(product__vendor_id=vendor_id, order__status=Order.Status.PLACED)
        .annotate(sale_day=TruncDate("order__placed_at", tzinfo=UTC))
        .filter(sale_day__lte=as_of)
    )


def _line_revenue() -> ExpressionWrapper:
    return ExpressionWrapper(F("quantity") * F("unit_price"), output_field=_MONEY)


def _sales_facts_insert(vendor_id: int, as_of: date) -> int:
    queryset = (
        _placed_lines(vendor_id, as_of)
        .values("product_id", "product__category_id", "order__retailer_id", "sale_day")
        .annotate(
            f_vendor=Value(vendor_id),
            f_region=F("order__retailer__region"),
            f_segment=F("order__retailer__segment"),
            f_size=F("order__retailer__size"),
            f_units=Sum("quantity"),
            f_revenue=Sum(_line_revenue()),
            # (order, product) is unique, so each line of a group is a distinct order.
            f_orders=Count("id"),
        )
        .values(
            "f_vendor",
            "product_id",
            "product__category_id",
            "order__retailer_id",
            "f_region",
            "f_segment",
            "f_size",
            "sale_day",
            "f_units",
            "f_revenue",
            "f_orders",
        )
        .order_by()
    )
    columns = [
        "vendor_id",
        "product_id",
        "category_id",
        "retailer_id",
        "region",
        "segment",
        "size",
        "day",
        "units",
        "revenue",
        "orders",
    ]
    return _insert_select(SalesFact, columns, queryset)


def _retailer_days_insert(vendor_id: int, as_of: date) -> int:
    queryset = (
        _placed_lines(vendor_id, as_of)
        .values("order__retailer_id", "sale_day")
        .annotate(
            f_vendor=Value(vendor_id),
            f_region=F("order__retailer__region"),
            f_segment=F("order__retailer__segment"),
            f_size=F("order__retailer__size"),
            f_orders=Count("order_id", distinct=True),
            f_units=Sum("quantity"),
            f_revenue=Sum(_line_revenue()),
        )
        .values(
            "f_vendor",
            "order__retailer_id",
            "f_region",
            "f_segment",
            "f_size",
            "sale_day",
            "f_orders",
            "f_units",
            "f_revenue",
        )
        .order_by()
    )
    columns = ["vendor_id", "retailer_id", "region", "segment", "size", "day", "orders", "units", "revenue"]
    return _insert_select(RetailerDay, columns, queryset)


def _product_periods_insert(vendor_id: int, as_of: date, days: int) -> int:
    """One row per product sold in the `days` days ending at as_of or in the `days` before, from SalesFact."""
    start = as_of - timedelta(days=days - 1)
    previous_start = start - timedelta(days=days)
    current = Q(day__gte=start)
    previous = Q(day__lt=start)
    queryset = (
        SalesFact.objects.filter(vendor_id=vendor_id, day__gte=previous_start, day__lte=as_of)
        .values("product_id", "category_id")
        .annotate(
            f_vendor=Value(vendor_id),
            f_days=Value(days),
            f_units=Sum("units", filter=current, default=0),
            f_revenue=Sum("revenue", filter=current, default=0),
            f_orders=Sum("orders", filter=current, default=0),
            f_retailers=Count("retailer_id", filter=current, distinct=True),
            f_previous_units=Sum("units", filter=previous, default=0),
            f_previous_revenue=Sum("revenue", filter=previous, default=0),
            f_previous_retailers=Count("retailer_id", filter=previous, distinct=True),
        )
        .values(
            "f_vendor",
            "product_id",
            "category_id",
            "f_days",
            "f_units",
            "f_revenue",
            "f_orders",
            "f_retailers",
            "f_previous_units",
            "f_previous_revenue",
            "f_previous_retailers",
        )
        .order_by()
    )
    columns = [
        "vendor_id",
        "product_id",
        "category_id",
        "days",
        "units",
        "revenue",
        "orders",
        "retailers",
        "previous_units",
        "previous_revenue",
        "previous_retailers",
    ]
    return _insert_select(ProductPeriod, columns, queryset)


def _analyze(*models: type) -> None:
    # The pages' plans depend on fresh statistics after a rebuild of this size.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for model in models:
                cursor.execute(f"ANALYZE {model._meta.db_table}")


@transaction.atomic
def vendor_rollups_refresh(*, vendor_id: int) -> VendorAnalytics:
    """Rebuild the vendor's SalesFact, RetailerDay and ProductPeriod rows from placed orders, as of the day of
    the latest placed order on the platform. Idempotent: the rows are deleted and rebuilt in one transaction,
    so the pages see either the old or the new figures, never a mix.
    """
    started = time.monotonic()
    vendor = Vendor.objects.get(pk=vendor_id)
    # Serialises two refreshes of one vendor (hourly meeting an import's): the second waits.
    analytics, _ = VendorAnalytics.objects.get_or_create(vendor=vendor)
    analytics = VendorAnalytics.objects.select_for_update().get(pk=analytics.pk)
    as_of = platform_as_of()
    for model in (SalesFact, RetailerDay, ProductPeriod):
        model.objects.filter(vendor_id=vendor_id)._raw_delete(model.objects.db)
    counts: dict[str, int] = {}
    if as_of is not None:
        counts["facts"] = _sales_facts_insert(vendor_id, as_of)
        counts["retailer_days"] = _retailer_days_insert(vendor_id, as_of)
        counts["product_periods"] = sum(
            _product_periods_insert(vendor_id, as_of, days) for days in PRESET_DAYS
        )
    _analyze(SalesFact, RetailerDay, ProductPeriod)
    analytics.as_of = as_of
    analytics.rollups_refreshed_at = timezone.now()
    analytics.save(update_fields=["as_of", "rollups_refreshed_at"])
    logger.info(
        "Rollups of vendor %s as of %s rebuilt in %.2f s: %s",
        vendor_id,
        as_of,
        time.monotonic() - started,
        counts,
    )
    return analytics


def last_full_week(as_of: date) -> date:
    """The Monday of the last complete Monday-to-Sunday week up to as_of (its own week on a Sunday)."""
    monday = as_of - timedelta(days=as_of.weekday())
    return monday if as_of.weekday() == 6 else monday - timedelta(weeks=1)


def _sales_lines_frame(vendor_id: int, last_week: date) -> "DataFrame":
    """Daily units per product and of the vendor's total, up to the end of `last_week`, from SalesFact."""
    import pandas as pd

    rows = (
        SalesFact.objects.filter(vendor_id=vendor_id, day__lte=last_week + timedelta(days=6))
        .values_list("product_id", "day")
        .annotate(day_units=Sum("units"))
        .order_by()
    )
    products = pd.DataFrame.from_records(list(rows), columns=["product_id", "day", "units"])
    products["unique_id"] = products["product_id"].astype(str)
    total = products.groupby("day", as_index=False)["units"].sum().assign(unique_id=TOTAL_SERIES)
    return pd.concat([products[["unique_id", "day", "units"]], total[["unique_id", "day", "units"]]])


def _backtest_table(report: "BacktestReport") -> dict:
    """ForecastRun.backtest: {method: scores, ..., "protocol": {...}, "selection": [...]}."""
    return {
        **{method: score.as_json() for method, score in report.scores.items()},
        "protocol": {
            "origins": len(report.origins),
            "first_origin": str(report.origins[0]) if report.origins else None,
            "last_origin": str(report.origins[-1]) if report.origins else None,
            "horizon_weeks": report.horizon,
            "series": report.series,
            "min_history_weeks": report.min_history,
            "calibration_windows": report.calibration_windows,
            "description": report.protocol if report.origins else "",
        },
        "selection": report.selection,
    }


def _backtest_or_refusal(weekly: "DataFrame", backtest: Callable[["DataFrame"], "BacktestReport"]) -> dict:
    """The backtest table, or why there is none: a vendor with less history than the protocol needs still gets
    its forecasts (each series then says it had no backtest), and the page says why the table is missing."""
    try:
        report = backtest(weekly)
    except ValueError as refusal:
        return {"protocol": {"description": f"No backtest: {refusal}."}}
    return _backtest_table(report)


def _day(value: date) -> date:
    # The engine's weeks may come as pandas Timestamps, which are datetimes.
    return value.date() if isinstance(value, datetime) else value


def _number(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def _forecast_weeks(series: "SeriesForecast") -> list[dict]:
    return [
        {
            "week": _day(week).isoformat(),
            "point": float(point),
            "lo80": float(lo80),
            "hi80": float(hi80),
            "lo95": float(lo95),
            "hi95": float(hi95),
        }
        for week, point, lo80, hi80, lo95, hi95 in zip(
            series.weeks, series.point, series.lo80, series.hi80, series.lo95, series.hi95, strict=True
        )
    ]


def _product_forecast(run: ForecastRun, series: "SeriesForecast") -> ProductForecast:
    weeks = _forecast_weeks(series)
    return ProductForecast(
        run=run,
        product_id=None if series.unique_id == TOTAL_SERIES else int(series.unique_id),
        method=series.method,
        method_label=series.method_label,
        reason=series.reason,
        naive_fallback=bool(series.naive_fallback),
        backtest_wape=_number(series.backtest_wape),
        naive_wape=_number(series.naive_wape),
        backtest_windows=int(series.backtest_windows),
        candidates={method: _number(wape) for method, wape in series.candidates.items()},
        weeks=weeks,
        horizon_units=sum(week["point"] for week in weeks),
    )


@transaction.atomic
def _forecast_run_publish(*, run: ForecastRun, forecasts: list[ProductForecast]) -> ForecastRun:
    """Store the run's rows, mark it done and point the vendor's pages at it, all or nothing."""
    ProductForecast.objects.bulk_create(forecasts, batch_size=2000)
    run.status = ForecastRun.Status.DONE
    run.finished_at = timezone.now()
    run.save()
    VendorAnalytics.objects.update_or_create(vendor_id=run.vendor_id, defaults={"forecast_run": run})
    kept = ForecastRun.objects.filter(vendor_id=run.vendor_id).order_by("-started_at", "-pk")[
        :FORECAST_RUNS_KEPT
    ]
    ForecastRun.objects.filter(vendor_id=run.vendor_id).exclude(
        pk__in=list(kept.values_list("pk", flat=True))
    ).delete()
    return run


def _forecast_run_fail(*, run_id: int, error: str) -> None:
    ForecastRun.objects.filter(pk=run_id).update(
        status=ForecastRun.Status.FAILED, finished_at=timezone.now(), error=error[:5000]
    )


def vendor_forecasts_refresh(*, vendor_id: int) -> ForecastRun:
    """Forecast the vendor's weekly units per product and in total from SalesFact, backtest the methods, and
    make the new run the live one.

    Not atomic as a whole: the running run is committed first so the admin shows it while the models fit (for
    minutes on a large vendor), and a failure is recorded on it (re-raised after) while the pointer stays on
    the previous run. Only the publication of the finished run is one transaction.
    """
    from vendors.forecasting import backtest, forecast_series, weekly_panel

    analytics, _ = VendorAnalytics.objects.get_or_create(vendor_id=vendor_id)
    run = ForecastRun.objects.create(vendor_id=vendor_id, horizon=FORECAST_HORIZON)
    started = time.monotonic()
    try:
        if analytics.as_of is None:
            raise ValueError("The vendor has no sales rollups yet; refresh them before forecasting.")
        run.last_week = last_full_week(analytics.as_of)
        lines = _sales_lines_frame(vendor_id, run.last_week)
        if lines.empty:
            raise ValueError(f"The vendor has no sales up to the week of {run.last_week}.")
        weekly = weekly_panel(lines, last_week=run.last_week)
        result = forecast_series(weekly, horizon=FORECAST_HORIZON)
        run.backtest = _backtest_or_refusal(weekly, backtest)
        run.series = len(result.series)
        run.seconds = round(time.monotonic() - started, 2)
        forecasts = [_product_forecast(run, series) for series in result.series.values()]
        run = _forecast_run_publish(run=run, forecasts=forecasts)
    except Exception as exc:
        _forecast_run_fail(run_id=run.pk, error=f"{type(exc).__name__}: {exc}")
        logger.exception("Forecast run #%s of vendor %s failed", run.pk, vendor_id)
        raise
    logger.info(
        "Forecast run #%s of vendor %s: %s series in %.1f s", run.pk, vendor_id, run.series, run.seconds
    )
    return run


def vendors_refresh_all(*, forecasts: bool = False) -> list[int]:
    """Queue a rollup refresh (and, with `forecasts`, a forecast refresh) of every vendor with products.

    One task per vendor and kind, so a large vendor's refresh neither delays the others nor shares their time
    limit. Every vendor's rollups are refreshed, not only the one whose sales changed: the as-of day is the
    platform's latest order, which moves all vendors' periods.
    """
    vendor_ids = list(
        Vendor.objects.filter(products__isnull=False).distinct().order_by("pk").values_list("pk", flat=True)
    )
    vendors_refresh_enqueue(vendor_ids=vendor_ids, forecasts=forecasts)
    return vendor_ids


@transaction.atomic
def vendors_refresh_enqueue(*, vendor_ids: list[int], forecasts: bool) -> None:
    """With the caller's transaction, queue a rollup refresh (or, with `forecasts`, rollups then forecasts)
    of each vendor: published once it commits (the schedule, an import, a retrain, the admin's actions)."""
    from recommendations.outbox import task_outbox_add

    for vendor_id in vendor_ids:
        if forecasts:
            # One task for both, rollups first: the forecasts read the SalesFact rows just rebuilt.
            task_outbox_add(task_name="vendors.tasks.refresh_vendor_forecasts", args=[vendor_id, True])
        else:
            task_outbox_add(task_name="vendors.tasks.refresh_vendor_rollups", args=[vendor_id])
