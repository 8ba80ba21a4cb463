"""The rollup refresh (and the schedule's fan-out): rebuilt from placed orders, idempotent, tenant-scoped."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.tests.factories import RetailerFactory
from catalog.tests.factories import ProductFactory
from orders.models import Order
from orders.tests.factories import OrderFactory, OrderLineFactory
from recommendations.models import TaskOutbox
from vendors.models import ForecastRun, ProductPeriod, RetailerDay, SalesFact, VendorAnalytics
from vendors.services import (
    last_full_week,
    vendor_forecasts_refresh,
    vendor_rollups_refresh,
    vendors_refresh_all,
)
from vendors.tests.factories import VendorFactory

pytestmark = pytest.mark.django_db


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def rows(model: type, vendor_id: int) -> list[dict]:
    return sorted(
        (
            {key: value for key, value in row.items() if key != "id"}
            for row in model.objects.filter(vendor_id=vendor_id).values()
        ),
        key=repr,
    )


def test_the_rollups_sum_placed_lines_per_product_retailer_and_day() -> None:
    product = ProductFactory(unit_price=Decimal("2.00"))
    other = ProductFactory(vendor=product.vendor, category=product.category)
    shop = RetailerFactory(region="North", segment="cafe", size="large")
    morning = OrderFactory(retailer=shop, placed_at=at(date(2024, 3, 1), 8))
    evening = OrderFactory(retailer=shop, placed_at=at(date(2024, 3, 1), 23))
    OrderLineFactory(order=morning, product=product, quantity=3, unit_price=Decimal("2.00"))
    OrderLineFactory(order=evening, product=product, quantity=2, unit_price=Decimal("2.50"))
    OrderLineFactory(order=evening, product=other, quantity=1, unit_price=Decimal("4.00"))
    OrderLineFactory(
        order=OrderFactory(retailer=shop, cancelled=True, placed_at=at(date(2024, 3, 1))), product=product
    )
    OrderLineFactory(order=OrderFactory(retailer=shop, basket=True), product=product, quantity=50)

    analytics = vendor_rollups_refresh(vendor_id=product.vendor_id)

    assert analytics.as_of == date(2024, 3, 1)
    assert analytics.rollups_refreshed_at is not None
    fact = SalesFact.objects.get(product=product)
    assert (fact.units, fact.revenue, fact.orders, fact.day) == (5, Decimal("11.00"), 2, date(2024, 3, 1))
    assert (fact.region, fact.segment, fact.size, fact.category_id) == (
        "North",
        "cafe",
        "large",
        product.category_id,
    )
    day = RetailerDay.objects.get(vendor_id=product.vendor_id)
    assert (day.orders, day.units, day.revenue) == (2, 6, Decimal("15.00"))
    period = ProductPeriod.objects.get(product=product, days=7)
    assert (period.units, period.revenue, period.orders, period.retailers) == (5, Decimal("11.00"), 2, 1)
    assert sorted(ProductPeriod.objects.filter(product=product).values_list("days", flat=True)) == [
        7,
        30,
        90,
        365,
    ]


def test_preset_periods_end_at_as_of_and_compare_with_the_period_before() -> None:
    product = ProductFactory()
    as_of = date(2024, 6, 30)
    for day, quantity in [
        (as_of, 1),
        (as_of - timedelta(days=6), 2),
        (as_of - timedelta(days=7), 4),
        (as_of - timedelta(days=14), 8),
    ]:
        OrderLineFactory(product=product, order__placed_at=at(day), quantity=quantity)

    vendor_rollups_refresh(vendor_id=product.vendor_id)

    week = ProductPeriod.objects.get(product=product, days=7)
    assert (week.units, week.previous_units, week.retailers, week.previous_retailers) == (3, 4, 2, 1)
    month = ProductPeriod.objects.get(product=product, days=30)
    assert (month.units, month.previous_units) == (15, 0)


def test_refreshing_twice_gives_the_same_rows_and_follows_changed_orders() -> None:
    product = ProductFactory()
    line = OrderLineFactory(product=product, order__placed_at=at(date(2024, 5, 5)), quantity=7)
    OrderLineFactory(product=product, order__placed_at=at(date(2024, 5, 9)), quantity=1)
    vendor_rollups_refresh(vendor_id=product.vendor_id)
    first = [rows(model, product.vendor_id) for model in (SalesFact, RetailerDay, ProductPeriod)]

    vendor_rollups_refresh(vendor_id=product.vendor_id)

    assert [rows(model, product.vendor_id) for model in (SalesFact, RetailerDay, ProductPeriod)] == first
    Order.objects.filter(pk=line.order_id).update(status=Order.Status.CANCELLED)
    vendor_rollups_refresh(vendor_id=product.vendor_id)
    assert list(SalesFact.objects.filter(vendor_id=product.vendor_id).values_list("units", flat=True)) == [1]


def test_a_refresh_touches_only_its_own_vendor() -> None:
    own, rival = ProductFactory(), ProductFactory()
    OrderLineFactory(product=own, order__placed_at=at(date(2024, 5, 5)))
    OrderLineFactory(product=rival, order__placed_at=at(date(2024, 5, 6)), quantity=9)
    vendor_rollups_refresh(vendor_id=rival.vendor_id)
    rival_rows = rows(SalesFact, rival.vendor_id)

    vendor_rollups_refresh(vendor_id=own.vendor_id)

    assert rows(SalesFact, rival.vendor_id) == rival_rows
    assert set(SalesFact.objects.filter(vendor_id=own.vendor_id).values_list("product_id", flat=True)) == {
        own.pk
    }
    # The as-of day is the platform's latest placed order: the rival's.
    assert VendorAnalytics.objects.get(vendor_id=own.vendor_id).as_of == date(2024, 5, 6)


def test_as_of_is_never_later_than_today_and_none_without_orders() -> None:
    product = ProductFactory()
    assert vendor_rollups_refresh(vendor_id=product.vendor_id).as_of is None
    OrderLineFactory(product=product, order__placed_at=timezone.now() + timedelta(days=3))

    analytics = vendor_rollups_refresh(vendor_id=product.vendor_id)

    assert analytics.as_of == timezone.now().astimezone(UTC).date()
    assert not SalesFact.objects.filter(vendor_id=product.vendor_id).exists(), (
        "a sale after as-of is left out"
    )


def test_the_schedule_queues_one_task_per_vendor_with_products() -> None:
    with_products = ProductFactory().vendor
    VendorFactory()

    queued = vendors_refresh_all()
    nightly = vendors_refresh_all(forecasts=True)

    assert queued == nightly == [with_products.pk]
    assert sorted(TaskOutbox.objects.values_list("task_name", "args")) == [
        ("vendors.tasks.refresh_vendor_forecasts", [with_products.pk, True]),
        ("vendors.tasks.refresh_vendor_rollups", [with_products.pk]),
    ]


@pytest.mark.parametrize(
    ("as_of", "monday"),
    [
        (date(2024, 6, 30), date(2024, 6, 24)),  # a Sunday closes its own week
        (date(2024, 6, 29), date(2024, 6, 17)),
        (date(2024, 6, 24), date(2024, 6, 17)),
    ],
)
def test_the_last_full_week_is_the_last_complete_monday_week(as_of: date, monday: date) -> None:
    assert last_full_week(as_of) == monday


def forecast_world(weeks: int = 40) -> tuple[int, list]:
    """Three products sold weekly (one steady, one growing, one intermittent) up to Sunday 30 June 2024."""
    products = [ProductFactory()]
    products += [ProductFactory(vendor=products[0].vendor) for _ in range(2)]
    shop = RetailerFactory()
    last_monday = date(2024, 6, 24)
    for n in range(weeks):
        monday = last_monday - timedelta(weeks=weeks - 1 - n)
        order = OrderFactory(retailer=shop, placed_at=at(monday + timedelta(days=2)))
        OrderLineFactory(order=order, product=products[0], quantity=10 + n % 3)
        OrderLineFactory(order=order, product=products[1], quantity=5 + n)
        if n % 4 == 0:
            OrderLineFactory(order=order, product=products[2], quantity=7)
    vendor_rollups_refresh(vendor_id=products[0].vendor_id)
    return products[0].vendor_id, products


def test_a_forecast_refresh_stores_every_series_and_the_total_then_goes_live() -> None:
    vendor_id, products = forecast_world()
    previous = vendor_forecasts_refresh(vendor_id=vendor_id)

    run = vendor_forecasts_refresh(vendor_id=vendor_id)

    assert run.status == ForecastRun.Status.DONE and run.error == ""
    # The last sale is on Wednesday 26 June: that week is partial, the one before is the last full week.
    assert run.last_week == date(2024, 6, 17) and run.series == 4
    assert VendorAnalytics.objects.get(vendor_id=vendor_id).forecast_run_id == run.pk != previous.pk
    stored = {forecast.product_id: forecast for forecast in run.forecasts.all()}
    assert set(stored) == {product.pk for product in products} | {None}
    total = stored[None]
    assert [week["week"] for week in total.weeks] == [
        (date(2024, 6, 24) + timedelta(weeks=n)).isoformat() for n in range(8)
    ]
    for week in total.weeks:
        assert week["lo95"] <= week["lo80"] <= week["point"] <= week["hi80"] <= week["hi95"]
    assert total.horizon_units == pytest.approx(sum(week["point"] for week in total.weeks))
    assert total.method and total.method_label and total.reason
    assert "protocol" in run.backtest and any(
        isinstance(v, dict) and "wape" in v for v in run.backtest.values()
    )


def test_a_failed_forecast_is_recorded_and_leaves_the_live_run_in_place() -> None:
    vendor_id, _ = forecast_world(weeks=30)
    live = vendor_forecasts_refresh(vendor_id=vendor_id)
    # Rollups rebuilt as of nothing: the next run has no data and fails.
    Order.objects.update(status=Order.Status.CANCELLED)
    VendorAnalytics.objects.filter(vendor_id=vendor_id).update(as_of=None)

    with pytest.raises(ValueError, match="no sales rollups"):
        vendor_forecasts_refresh(vendor_id=vendor_id)

    failed = ForecastRun.objects.filter(vendor_id=vendor_id).latest()
    assert failed.status == ForecastRun.Status.FAILED and "no sales rollups" in failed.error
    assert VendorAnalytics.objects.get(vendor_id=vendor_id).forecast_run_id == live.pk


def test_only_the_last_three_runs_are_kept_and_a_short_history_is_forecast_without_a_backtest() -> None:
    vendor_id, _ = forecast_world(weeks=12)

    runs = [vendor_forecasts_refresh(vendor_id=vendor_id) for _ in range(4)]

    assert sorted(ForecastRun.objects.filter(vendor_id=vendor_id).values_list("pk", flat=True)) == [
        run.pk for run in runs[1:]
    ]
    assert runs[-1].status == ForecastRun.Status.DONE and runs[-1].forecasts.count() == 4
    assert runs[-1].backtest["protocol"]["description"].startswith("No backtest: ")
