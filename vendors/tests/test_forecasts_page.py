import csv
from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.db import connection
from django.db.models import Sum
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from accounts.tests.factories import RetailerFactory, UserFactory
from catalog.tests.factories import ProductFactory
from orders.tests.factories import OrderFactory, OrderLineFactory
from recommendations.models import ModelVersion, ReorderPrediction
from recommendations.tests.factories import ModelVersionFactory, ReorderPredictionFactory
from vendors.models import ForecastRun, ProductForecast, VendorAnalytics
from vendors.services import vendor_rollups_refresh

pytestmark = pytest.mark.django_db

AS_OF = date(2024, 6, 30)
FORECASTS = reverse("vendors:forecasts")


@pytest.fixture(autouse=True)
def _local_cache(settings: object) -> None:
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


def _member_with_sales(products: int = 3) -> tuple[object, list]:
    member = UserFactory(vendor_member=True)
    own = [ProductFactory(vendor=member.vendor, name=f"Own product {index}") for index in range(products)]
    order = OrderFactory(placed_at=datetime.combine(AS_OF, time(12), tzinfo=UTC))
    for product in own:
        OrderLineFactory(order=order, product=product, quantity=2)
    vendor_rollups_refresh(vendor_id=member.vendor_id)
    return member, own


def _weeks(base: float) -> list[dict]:
    return [
        {
            "week": (date(2024, 7, 1) + timedelta(weeks=index)).isoformat(),
            "point": base + index,
            "lo80": base - 2,
            "hi80": base + index + 3,
            "lo95": max(base - 4, 0),
            "hi95": base + index + 6,
        }
        for index in range(8)
    ]


def _run(*, vendor: object, products: list, backtest: dict | None = None) -> ForecastRun:
    run = ForecastRun.objects.create(
        vendor=vendor,
        status=ForecastRun.Status.DONE,
        last_week=date(2024, 6, 24),
        series=len(products) + 1,
        backtest=backtest
        if backtest is not None
        else {
            "ets": {"wape": 0.41, "mase": 0.88, "bias": -0.05, "coverage@80": 0.79, "coverage@95": 0.93},
            "naive": {"wape": 0.66, "mase": 1.0, "bias": 0.01, "coverage@80": 0.7, "coverage@95": 0.9},
            "protocol": {"origins": 6, "horizon_weeks": 8},
        },
    )
    for index, product in enumerate(products):
        weeks = _weeks(10.0 * (index + 1))
        ProductForecast.objects.create(
            run=run,
            product=product,
            method="ets",
            method_label="Exponential smoothing",
            reason=f"Backtest WAPE 0.4{index} against the naive 0.66 over 6 windows.",
            backtest_wape=0.4,
            naive_wape=0.66,
            weeks=weeks,
            horizon_units=sum(week["point"] for week in weeks),
        )
    total = _weeks(100.0)
    ProductForecast.objects.create(
        run=run,
        product=None,
        method="ets",
        method_label="Exponential smoothing",
        reason="Total.",
        weeks=total,
        horizon_units=sum(week["point"] for week in total),
    )
    VendorAnalytics.objects.filter(vendor=vendor).update(forecast_run=run)
    return run


def test_before_any_forecast_run_the_page_says_so_without_numbers(client: Client) -> None:
    member, _ = _member_with_sales()
    client.force_login(member)

    response = client.get(FORECASTS)

    content = response.content.decode()
    assert response.status_code == 200
    assert "No forecast yet" in content
    assert "computed nightly" in content
    assert 'id="forecast-table"' not in content


def test_a_running_first_run_is_announced(client: Client) -> None:
    member, _ = _member_with_sales()
    ForecastRun.objects.create(vendor=member.vendor, status=ForecastRun.Status.RUNNING)
    client.force_login(member)

    assert "is under way" in client.get(FORECASTS).content.decode()


def test_forecasts_page_shows_each_products_weeks_bounds_method_and_reason(client: Client) -> None:
    member, products = _member_with_sales()
    _run(vendor=member.vendor, products=products)
    client.force_login(member)

    response = client.get(FORECASTS)

    content = response.content.decode()
    # Sorted by expected units, most first.
    names = [row["forecast"].product.name for row in response.context["rows"]]
    assert names == ["Own product 2", "Own product 1", "Own product 0"]
    assert "Own product 2" in content
    assert "30.0" in content  # the first week's point of the third product
    assert "28.0 \N{EN DASH} 33.0" in content  # 80% bounds of the first week of the third product
    assert "26.0 \N{EN DASH} 36.0" in content  # 95% bounds
    assert escape("Backtest WAPE 0.42 against the naive 0.66 over 6 windows.") in content
    assert "0.410" in content and "0.880" in content and "0.930" in content
    assert "origins 6" in content


def test_forecasts_can_be_sorted_by_fewest_expected_units_and_paginated(client: Client) -> None:
    member, products = _member_with_sales(products=12)
    member.items_per_page = 10
    member.save()
    _run(vendor=member.vendor, products=products)
    client.force_login(member)

    response = client.get(FORECASTS, {"sort": "units", "page": 2}, headers={"HX-Request": "true"})

    content = response.content.decode()
    assert content.lstrip().startswith('<section id="forecast-rows"')
    assert "Own product 10" in content
    assert content.index("Own product 10") < content.index("Own product 11")
    assert "Own product 9<" not in content
    assert "Products 11\N{EN DASH}12 of 12" in content


def test_expected_reorders_equal_the_sum_of_the_stored_predictions(client: Client) -> None:
    member, products = _member_with_sales()
    _run(vendor=member.vendor, products=products)
    version = ModelVersionFactory(status=ModelVersion.Status.ACTIVE)
    retailers = [RetailerFactory() for _ in range(3)]
    inside = [AS_OF + timedelta(days=1), AS_OF + timedelta(days=7), AS_OF + timedelta(days=14)]
    for index, (retailer, product) in enumerate(
        [(retailers[0], products[0]), (retailers[1], products[0]), (retailers[0], products[1])]
    ):
        ReorderPredictionFactory(
            retailer=retailer, product=product, expected_date=inside[index], suggested_quantity=index + 3
        )
    # Outside the window, another vendor's product, another version: none of them counts.
    ReorderPredictionFactory(retailer=retailers[2], product=products[2], expected_date=AS_OF)
    ReorderPredictionFactory(
        retailer=retailers[2], product=products[1], expected_date=AS_OF + timedelta(days=15)
    )
    ReorderPredictionFactory(retailer=retailers[2], product=ProductFactory(), expected_date=inside[0])
    old = ModelVersionFactory(status=ModelVersion.Status.RETIRED)
    ReorderPredictionFactory(
        model_version=old, retailer=retailers[2], product=products[0], expected_date=inside[0]
    )
    client.force_login(member)

    response = client.get(FORECASTS)

    stored = ReorderPrediction.objects.filter(
        model_version=version,
        product__vendor=member.vendor,
        expected_date__gt=AS_OF,
        expected_date__lte=AS_OF + timedelta(days=14),
    )
    total = response.context["reorders_total"]
    assert total.reorders == stored.count() == 3
    assert total.units == stored.aggregate(units=Sum("suggested_quantity"))["units"] == 12
    assert total.retailers == stored.values("retailer").distinct().count() == 2
    by_product = {row["forecast"].product_id: row["reorders"] for row in response.context["rows"]}
    for product in products:
        mine = stored.filter(product=product)
        assert by_product[product.pk].reorders == mine.count()
        assert by_product[product.pk].units == (mine.aggregate(u=Sum("suggested_quantity"))["u"] or 0)
    assert "3 predicted reorders by 2 retailers, 12 suggested units" in response.content.decode()

    rows = _csv(client.get(reverse("vendors:forecasts_table_csv", args=["reorders"])))
    assert sum(int(row[3]) for row in rows[1:]) == 12
    assert sum(int(row[2]) for row in rows[1:]) == 3


def test_expected_reorders_sit_beside_the_forecasts_first_two_weeks(client: Client) -> None:
    member, products = _member_with_sales()
    _run(vendor=member.vendor, products=products)
    client.force_login(member)

    response = client.get(FORECASTS)

    # The total's first two weeks: 100 + 101.
    assert response.context["total_two_weeks"] == 201.0
    assert response.context["comparison_weeks"] == (date(2024, 7, 1), date(2024, 7, 14))
    assert response.context["reorder_window"] == (date(2024, 7, 1), date(2024, 7, 14))


def _csv(response: object) -> list[list[str]]:
    assert response.status_code == 200
    return list(csv.reader(b"".join(response.streaming_content).decode().splitlines()))


def test_every_forecast_table_downloads_as_csv(client: Client) -> None:
    member, products = _member_with_sales()
    _run(vendor=member.vendor, products=products)
    client.force_login(member)

    forecasts = _csv(client.get(reverse("vendors:forecasts_csv")))
    backtest = _csv(client.get(reverse("vendors:forecasts_table_csv", args=["backtest"])))
    methods = _csv(client.get(reverse("vendors:forecasts_table_csv", args=["methods"])))

    assert len(forecasts) == 1 + 3 * 8
    assert {row[1] for row in forecasts[1:]} == {product.name for product in products}
    assert [row[0] for row in backtest[1:]] == ["ets", "naive"]
    assert len(methods) == 1 + 3
    assert client.get(reverse("vendors:forecasts_table_csv", args=["other"])).status_code == 404


def test_forecasts_page_query_count_does_not_grow_with_products(
    client: Client, django_assert_max_num_queries: object
) -> None:
    member, products = _member_with_sales(products=30)
    _run(vendor=member.vendor, products=products)
    for product in products:
        ReorderPredictionFactory(product=product, expected_date=AS_OF + timedelta(days=3))
    client.force_login(member)

    # session, user, vendor, analytics and run, version, total, weekly history, reorders total, count,
    # page, reorders per product.
    with django_assert_max_num_queries(11):
        response = client.get(FORECASTS)

    assert response.status_code == 200


def test_forecasts_page_charts_the_total_with_its_history_and_both_intervals(client: Client) -> None:
    member, products = _member_with_sales()
    _run(vendor=member.vendor, products=products)
    client.force_login(member)

    response = client.get(FORECASTS)

    spec = response.context["total_chart"]
    history = dict(zip(spec["labels"], spec["series"][0]["values"], strict=True))
    # The only sale: 2 units of each of the 3 products on the as-of day (Sunday 30 June).
    assert history["2024-06-24"] == 6
    assert sum(value for value in history.values() if value) == 6
    assert spec["series"][1]["values"][-8:] == [100.0 + index for index in range(8)]
    assert spec["band80"]["low"][-1] == 98.0 and spec["band95"]["high"][-1] == 113.0
    content = response.content.decode()
    assert 'data-chart-source="total-chart"' in content and 'id="total-table"' in content


def test_without_an_active_model_no_bottom_up_figure_is_shown(client: Client) -> None:
    member, products = _member_with_sales()
    _run(vendor=member.vendor, products=products)
    ModelVersion.objects.update(status=ModelVersion.Status.RETIRED)
    client.force_login(member)

    content = client.get(FORECASTS).content.decode()

    assert "No recommendation model is active yet" in content
    assert "predicted reorders by" not in content


def test_forecast_reads_leave_the_unshown_columns_in_the_table(
    client: Client, django_assert_max_num_queries: object
) -> None:
    member, products = _member_with_sales(products=30)
    _run(vendor=member.vendor, products=products)
    client.force_login(member)

    with CaptureQueriesContext(connection) as page_queries:
        client.get(FORECASTS)
    sqls = [query["sql"] for query in page_queries.captured_queries]
    forecast_reads = [sql for sql in sqls if '"vendors_productforecast"."' in sql]
    assert forecast_reads
    for sql in forecast_reads:
        assert '"vendors_productforecast"."candidates"' not in sql
        assert '"catalog_product"."description"' not in sql
    # The downloads read the same rows: a field left out would cost a query per product.
    for url in (reverse("vendors:forecasts_csv"), reverse("vendors:forecasts_table_csv", args=["methods"])):
        with django_assert_max_num_queries(8):
            rows = _csv(client.get(url))
        assert {row[1] for row in rows[1:]} == {product.name for product in products}
