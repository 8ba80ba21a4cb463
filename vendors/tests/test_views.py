"""The Overview and Breakdowns pages, their htmx partials and CSV downloads: tenancy, content, queries."""

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from accounts.tests.factories import RetailerFactory, UserFactory
from catalog.tests.factories import ProductFactory
from orders.tests.factories import OrderFactory, OrderLineFactory
from vendors.services import vendor_rollups_refresh

pytestmark = pytest.mark.django_db

OVERVIEW = reverse("vendors:home")
DEMAND = reverse("vendors:demand")
OVERVIEW_CSVS = [
    reverse("vendors:overview_csv", args=[table]) for table in ("kpis", "weekly", "rising", "falling")
]
DEMAND_CSVS = [
    reverse("vendors:demand_csv", args=[table])
    for table in ("region", "segment", "size", "category", "retailer")
]
ALL_URLS = [OVERVIEW, DEMAND, *OVERVIEW_CSVS, *DEMAND_CSVS]


def sale(product, *, retailer=None, quantity: int, price: str, day: datetime) -> None:
    order = OrderFactory(retailer=retailer or RetailerFactory(), placed_at=day)
    OrderLineFactory(order=order, product=product, quantity=quantity, unit_price=Decimal(price))


@pytest.fixture
def two_vendors():
    """A member of "Own vendor" and a rival vendor with distinctive names and numbers, rollups refreshed."""
    member = UserFactory(vendor_member=True, username="own-member", vendor__name="Own vendor")
    own = ProductFactory(vendor=member.vendor, name="Own product", sku="OWN-1", category__name="Own shelf")
    rival = ProductFactory(name="Rival product", sku="RIV-1", category__name="Rival shelf")
    own_shop = RetailerFactory(name="Own customer shop", region="Own region")
    rival_shop = RetailerFactory(name="Rival customer shop", region="Rival region")
    sale(own, retailer=own_shop, quantity=12, price="0.50", day=datetime(2024, 6, 20, 9, tzinfo=UTC))
    sale(own, retailer=own_shop, quantity=3, price="0.50", day=datetime(2024, 5, 2, 9, tzinfo=UTC))
    sale(rival, retailer=rival_shop, quantity=777, price="3.33", day=datetime(2024, 6, 21, 9, tzinfo=UTC))
    vendor_rollups_refresh(vendor_id=member.vendor_id)
    vendor_rollups_refresh(vendor_id=rival.vendor_id)
    return member, own, rival


def body(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


def test_overview_shows_own_kpis_chart_and_movers(client: Client, two_vendors) -> None:
    member, *_ = two_vendors
    client.force_login(member)

    response = client.get(OVERVIEW)

    assert response.status_code == 200
    content = body(response)
    assert "Own vendor" in content
    assert "£6.00" in content, "30-day revenue: 12 units at 0.50"
    assert "no data a year earlier" in content
    assert "vs previous period (£1.50)" in content, "the previous revenue with no space before the bracket"
    assert "vs previous period (1)" in content, "one order in the 30 days before"
    assert "Own product" in content, "a rising product"
    assert "up to and including 21 Jun 2024" in content, "the platform's latest order sets the as-of day"
    spec = json.loads(content.split('id="demand-chart" type="application/json">')[1].split("</script>")[0])
    assert spec["series"][0]["label"] == "Units" and len(spec["labels"]) == 52
    assert 'data-chart-source="demand-chart"' in content
    assert "vendor_charts.js" in content and "chart.umd.min.js" in content and "css/vendor.css" in content


@pytest.mark.parametrize("url", ALL_URLS)
def test_no_page_partial_or_download_shows_another_vendors_products_numbers_or_retailers(
    client: Client, two_vendors, url: str
) -> None:
    member, _, rival = two_vendors
    client.force_login(member)

    for params in ({}, {"period": "365"}, {"period": "custom", "start": "2024-01-01", "end": "2024-06-30"}):
        content = body(client.get(url, params | {"vendor": rival.vendor_id, "vendor_id": rival.vendor_id}))
        for leaked in ("Rival product", "RIV-1", "Rival shelf", "Rival customer shop", "Rival region", "777"):
            assert leaked not in content, (url, params, leaked)
        assert "2,587.41" not in content and "2587.41" not in content


@pytest.mark.parametrize("table", ["region", "segment", "size", "category", "retailer"])
def test_each_breakdown_table_is_an_htmx_partial_of_the_vendors_own_data(
    client: Client, two_vendors, table: str
) -> None:
    member, *_ = two_vendors
    client.force_login(member)

    response = client.get(
        DEMAND,
        {"period": "90", f"{table}_sort": "units"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET=f"table-{table}",
    )

    content = body(response)
    assert response.status_code == 200
    assert content.lstrip().startswith(f'<div id="table-{table}"')
    assert "<html" not in content
    assert 'aria-sort="ascending"' in content
    assert "Rival" not in content


def test_breakdowns_show_regions_retailers_and_categories_with_their_share(
    client: Client, two_vendors
) -> None:
    member, *_ = two_vendors
    client.force_login(member)

    content = body(client.get(DEMAND, {"period": "90"}))

    assert "Own region" in content and "Own customer shop" in content and "Own shelf" in content
    assert "100.0%" in content
    assert "£7.50" in content, "90 days: 15 units at 0.50"


def test_a_filter_on_another_vendors_product_or_category_is_not_found(client: Client, two_vendors) -> None:
    member, own, rival = two_vendors
    client.force_login(member)

    assert client.get(DEMAND, {"product": rival.pk}).status_code == 404
    assert client.get(DEMAND, {"category": rival.category_id}).status_code == 404
    assert client.get(DEMAND_CSVS[0], {"product": rival.pk}).status_code == 404
    assert client.get(DEMAND, {"product": own.pk}).status_code == 200


def test_the_retailer_table_is_paginated(client: Client) -> None:
    member = UserFactory(vendor_member=True, items_per_page=10)
    product = ProductFactory(vendor=member.vendor)
    for n in range(23):
        sale(product, quantity=n + 1, price="1.00", day=datetime(2024, 6, 20, 9, tzinfo=UTC))
    vendor_rollups_refresh(vendor_id=member.vendor_id)
    client.force_login(member)

    response = client.get(DEMAND, {"page": 3}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="table-retailer")

    content = body(response)
    assert "Retailers 21\N{EN DASH}23 of 23" in content
    assert 'href="?page=2"' in content, "the previous page"
    assert 'href="?retailer_sort=revenue"' in content, "a sort starts again at the first page"
    assert 'href="?retailer_sort=-units"' in content, "a new column sorts descending first"


def test_an_invalid_custom_range_says_so_and_shows_the_last_30_days(client: Client, two_vendors) -> None:
    member, *_ = two_vendors
    client.force_login(member)

    content = body(client.get(OVERVIEW, {"period": "custom", "start": "2024-06-30", "end": "2024-06-01"}))

    assert "The start date of the custom range is after its end date." in content
    assert "Last 30 days" in content


def test_csv_downloads_hold_the_tables_for_the_same_period(client: Client, two_vendors) -> None:
    member, *_ = two_vendors
    client.force_login(member)

    response = client.get(reverse("vendors:demand_csv", args=["retailer"]), {"period": "90"})

    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(body(response))))
    assert rows[0] == [
        "retailer",
        "revenue",
        "units",
        "revenue change vs previous (%)",
        "last order in period",
        "share of revenue (%)",
        "previous units",
        "previous revenue",
    ]
    assert rows[1] == ["Own customer shop", "7.50", "15", "", "2024-06-20", "100.0", "0", "0.00"]
    kpis = list(csv.reader(io.StringIO(body(client.get(OVERVIEW_CSVS[0], {"period": "30"})))))
    assert kpis[1][:4] == ["Revenue", "6.00", "1.50", "300.0"]
    assert kpis[1][4] == "no data a year earlier"
    assert client.get(reverse("vendors:demand_csv", args=["nonsense"])).status_code == 404


def test_a_vendor_without_sales_sees_an_empty_state(client: Client) -> None:
    member = UserFactory(vendor_member=True)
    client.force_login(member)

    for url in (OVERVIEW, DEMAND):
        response = client.get(url)
        assert response.status_code == 200
        assert "No sales yet" in body(response)


@pytest.mark.parametrize("url", ALL_URLS)
@pytest.mark.parametrize("traits", [{}, {"staff_member": True}])
def test_other_roles_are_refused(client: Client, traits: dict, url: str) -> None:
    client.force_login(UserFactory(**traits))

    assert client.get(url).status_code == 403


@pytest.mark.parametrize("url", ALL_URLS)
def test_anonymous_visitors_are_sent_to_login(client: Client, url: str) -> None:
    response = client.get(url)

    assert response.status_code == 302
    assert response.url.startswith(f"{reverse('accounts:login')}?next=")


@pytest.mark.parametrize(
    ("url", "params", "limit"),
    [
        (OVERVIEW, {}, 9),
        (OVERVIEW, {"period": "custom", "start": "2024-01-01", "end": "2024-06-30"}, 9),
        (DEMAND, {"period": "365"}, 11),
        (DEMAND, {"period": "30", "product": "own"}, 12),
    ],
)
def test_pages_make_a_constant_small_number_of_queries(
    client: Client, two_vendors, django_assert_max_num_queries, url: str, params: dict, limit: int
) -> None:
    member, own, _ = two_vendors
    if params.get("product") == "own":
        params = params | {"product": own.pk}
    client.force_login(member)
    client.get(url, params)
    for n in range(5):
        sale(own, quantity=n + 1, price="1.00", day=datetime(2024, 6, 1 + n, 9, tzinfo=UTC))
    vendor_rollups_refresh(vendor_id=member.vendor_id)

    with django_assert_max_num_queries(limit):
        assert client.get(url, params).status_code == 200


def test_a_falling_figure_downloads_as_a_negative_number_not_escaped_text(client: Client) -> None:
    member = UserFactory(vendor_member=True)
    product = ProductFactory(vendor=member.vendor, name="-Falling product")
    sale(product, quantity=10, price="1.00", day=datetime(2024, 5, 1, 9, tzinfo=UTC))
    sale(product, quantity=4, price="1.00", day=datetime(2024, 6, 20, 9, tzinfo=UTC))
    vendor_rollups_refresh(vendor_id=member.vendor_id)
    client.force_login(member)

    falling = list(csv.reader(io.StringIO(body(client.get(OVERVIEW_CSVS[3], {"period": "30"})))))

    assert falling[1][:6] == [product.sku, "'-Falling product", "4", "10", "-6", "-60.0"]
