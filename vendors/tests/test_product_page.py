import csv
import json
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from statistics import median

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from accounts.tests.factories import RetailerFactory, UserFactory
from catalog.tests.factories import ProductFactory
from orders.models import Order, OrderLine
from orders.tests.factories import OrderFactory, OrderLineFactory
from recommendations.tests.factories import ProductAssociationFactory
from vendors.models import ForecastRun, ProductForecast, VendorAnalytics
from vendors.services import vendor_rollups_refresh

pytestmark = pytest.mark.django_db

AS_OF = date(2024, 6, 30)


@pytest.fixture(autouse=True)
def _local_cache(settings: object) -> None:
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


def _order(*, retailer: object, product: object, day: date, quantity: int = 1) -> None:
    order = OrderFactory(retailer=retailer, placed_at=datetime.combine(day, time(12), tzinfo=UTC))
    OrderLineFactory(order=order, product=product, quantity=quantity)


def _world() -> tuple[object, object]:
    """A vendor member, one product with buyers in two regions on their own cadences, and the rollups."""
    member = UserFactory(vendor_member=True)
    product = ProductFactory(vendor=member.vendor, name="Oat granola", sku="GRAN-1")
    north = [RetailerFactory(region="North") for _ in range(3)]
    south = RetailerFactory(region="South")
    for offset in (60, 40, 20, 0):
        _order(retailer=north[0], product=product, day=AS_OF - timedelta(days=offset), quantity=4)
    for offset in (50, 45):
        _order(retailer=north[1], product=product, day=AS_OF - timedelta(days=offset), quantity=2)
    _order(retailer=north[2], product=product, day=AS_OF - timedelta(days=10), quantity=7)
    _order(retailer=south, product=product, day=AS_OF - timedelta(days=30), quantity=5)
    # Outside the 90-day period: counted by no figure of it.
    _order(retailer=south, product=product, day=AS_OF - timedelta(days=200), quantity=99)
    vendor_rollups_refresh(vendor_id=member.vendor_id)
    return member, product


def _recomputed(product: object, *, start: date, end: date) -> dict:
    """The product's period figures straight from placed order lines."""
    lines = OrderLine.objects.filter(
        product=product,
        order__status=Order.Status.PLACED,
        order__placed_at__date__gte=start,
        order__placed_at__date__lte=end,
    ).select_related("order__retailer")
    orders: dict[int, int] = defaultdict(int)
    days: dict[int, set[date]] = defaultdict(set)
    regions: dict[str, dict] = defaultdict(lambda: {"units": 0, "buyers": set()})
    for line in lines:
        retailer = line.order.retailer
        orders[retailer.pk] += 1
        days[retailer.pk].add(line.order.placed_at.date())
        regions[retailer.region]["units"] += line.quantity
        regions[retailer.region]["buyers"].add(retailer.pk)
    intervals = [
        (later - earlier).days for found in days.values() for earlier, later in pairwise(sorted(found))
    ]
    return {
        "buyers": len(orders),
        "repeat_buyers": sum(1 for count in orders.values() if count >= 2),
        "median": float(median(intervals)),
        "regions": {region: (row["units"], len(row["buyers"])) for region, row in regions.items()},
    }


def _forecast(*, vendor: object, product: object) -> ProductForecast:
    run = ForecastRun.objects.create(
        vendor=vendor, status=ForecastRun.Status.DONE, last_week=date(2024, 6, 24), series=1
    )
    weeks = [
        {
            "week": (date(2024, 7, 1) + timedelta(weeks=index)).isoformat(),
            "point": 10.0 + index,
            "lo80": 6.0,
            "hi80": 14.5,
            "lo95": 3.25,
            "hi95": 18.75,
        }
        for index in range(8)
    ]
    forecast = ProductForecast.objects.create(
        run=run,
        product=product,
        method="ets",
        method_label="Exponential smoothing",
        reason="Its backtest WAPE 0.412 beat the naive forecast's 0.655 over 6 windows.",
        backtest_wape=0.412,
        naive_wape=0.655,
        backtest_windows=6,
        weeks=weeks,
        horizon_units=sum(week["point"] for week in weeks),
    )
    VendorAnalytics.objects.filter(vendor=vendor).update(forecast_run=run)
    return forecast


def test_product_page_figures_equal_those_recomputed_from_raw_orders(client: Client) -> None:
    member, product = _world()
    client.force_login(member)

    response = client.get(reverse("vendors:product", args=[product.pk]), {"period": "90"})

    assert response.status_code == 200
    expected = _recomputed(product, start=AS_OF - timedelta(days=89), end=AS_OF)
    stats = response.context["stats"]
    assert stats.buyers == expected["buyers"] == 4
    assert stats.repeat_buyers == expected["repeat_buyers"] == 2
    assert stats.median_cadence_days == expected["median"]
    assert {row.region: (row.units, row.buyers) for row in response.context["regions"]} == expected["regions"]
    content = response.content.decode()
    assert "2 of 4 buyers ordered it twice or more" in content
    assert "50%" in content
    assert f"{expected['median']:g} days" in content


def test_product_page_shows_weekly_history_and_the_forecast_with_both_intervals(client: Client) -> None:
    member, product = _world()
    forecast = _forecast(vendor=member.vendor, product=product)
    client.force_login(member)

    response = client.get(reverse("vendors:product", args=[product.pk]))

    content = response.content.decode()
    spec = response.context["weeks_chart"]
    assert spec["labels"][-8:] == [week["week"] for week in forecast.weeks]
    assert spec["band80"]["high"][-1] == 14.5
    assert spec["band95"]["low"][-1] == 3.25
    # The history's last full week (Mon 24 Jun to Sun 30 Jun) holds the order of the as-of day.
    history = dict(zip(spec["labels"], spec["series"][0]["values"], strict=True))
    assert history["2024-06-24"] == 4
    assert 'data-chart-source="weekly-chart"' in content
    assert 'aria-describedby="weekly-table"' in content
    assert json.loads(content.split('id="weekly-chart" type="application/json">')[1].split("</script>")[0])
    assert "3.3 \N{EN DASH} 18.8" in content  # the 95% interval, to one decimal
    assert "Exponential smoothing" in content
    assert "0.412" in content and "0.655" in content
    assert escape(forecast.reason) in content


def test_product_page_lists_what_it_is_bought_with_without_the_other_vendors_figures(
    client: Client,
) -> None:
    member, product = _world()
    rival = ProductFactory(name="Rival oat milk")
    _order(retailer=RetailerFactory(), product=rival, day=AS_OF, quantity=777)
    ProductAssociationFactory(product=product, other=rival, together=41, confidence=0.23, lift=2.7)
    client.force_login(member)

    content = client.get(reverse("vendors:product", args=[product.pk])).content.decode()

    assert "Rival oat milk" in content
    assert "2.7" in content and "41" in content
    assert "777" not in content
    assert reverse("vendors:product", args=[rival.pk]) not in content


def test_product_page_says_when_there_is_no_forecast_yet(client: Client) -> None:
    member, product = _world()
    client.force_login(member)

    content = client.get(reverse("vendors:product", args=[product.pk])).content.decode()

    assert "No forecast of this product yet" in content


@pytest.mark.parametrize("table", ["weekly", "regions", "bought-with"])
def test_product_tables_download_as_csv_for_the_same_period(client: Client, table: str) -> None:
    member, product = _world()
    client.force_login(member)
    url = reverse("vendors:product_csv", args=[product.pk, table])

    response = client.get(url, {"period": "90"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(b"".join(response.streaming_content).decode().splitlines()))
    if table == "regions":
        expected = _recomputed(product, start=AS_OF - timedelta(days=89), end=AS_OF)["regions"]
        assert {row[0]: (int(row[1]), int(row[2])) for row in rows[1:]} == expected


def test_product_csv_of_an_unknown_table_is_404(client: Client) -> None:
    member, product = _world()
    client.force_login(member)

    assert client.get(reverse("vendors:product_csv", args=[product.pk, "secrets"])).status_code == 404


def test_product_page_serves_the_period_figures_alone_to_htmx(client: Client) -> None:
    member, product = _world()
    client.force_login(member)

    response = client.get(
        reverse("vendors:product", args=[product.pk]), {"period": "7"}, headers={"HX-Request": "true"}
    )

    content = response.content.decode()
    assert content.lstrip().startswith('<div id="period-figures">')
    assert "<html" not in content


def test_product_page_query_count_does_not_grow_with_sales(
    client: Client, django_assert_max_num_queries: object
) -> None:
    member, product = _world()
    _forecast(vendor=member.vendor, product=product)
    for index in range(30):
        _order(retailer=RetailerFactory(region=f"Region {index % 4}"), product=product, day=AS_OF)
        ProductAssociationFactory(product=product, rank=index)
    vendor_rollups_refresh(vendor_id=member.vendor_id)
    client.force_login(member)

    # session, user, vendor, product, analytics, forecast, weeks, sales rows, version, associations.
    with django_assert_max_num_queries(10):
        response = client.get(reverse("vendors:product", args=[product.pk]))

    assert response.status_code == 200
