import csv
import socket
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from statistics import median

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from accounts.models import Retailer
from accounts.tests.factories import RetailerFactory, UserFactory
from catalog.tests.factories import CategoryFactory, ProductFactory
from orders.models import Order, OrderLine
from orders.tests.factories import OrderFactory, OrderLineFactory
from recommendations.tests.factories import ProductAssociationFactory
from vendors import insights
from vendors.services import vendor_rollups_refresh

pytestmark = pytest.mark.django_db

AS_OF = date(2024, 6, 30)
PERIOD_START = AS_OF - timedelta(days=29)  # the default period: the last 30 days
INSIGHTS = reverse("vendors:insights")
GROCERY = Retailer.Segment.GROCERY
CONVENIENCE = Retailer.Segment.CONVENIENCE


@pytest.fixture(autouse=True)
def _local_cache(settings: object) -> None:
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


def _order(retailer: Retailer, products: list, day: date) -> None:
    order = OrderFactory(retailer=retailer, placed_at=datetime.combine(day, time(12), tzinfo=UTC))
    for product in products:
        OrderLineFactory(order=order, product=product, quantity=3)


@dataclass
class World:
    member: object
    granola: object
    muesli: object
    porridge: object
    oat_milk: object
    rival: object


def _world() -> World:
    member = UserFactory(vendor_member=True)
    vendor = member.vendor
    cereal = CategoryFactory(name="Cereal")
    granola = ProductFactory(vendor=vendor, category=cereal, name="Granola")
    muesli = ProductFactory(vendor=vendor, category=cereal, name="Muesli")
    porridge = ProductFactory(vendor=vendor, category=cereal, name="Porridge")
    oat_milk = ProductFactory(vendor=vendor, category=CategoryFactory(name="Dairy"), name="Oat milk")
    rival = ProductFactory(name="Rival rye bread")
    day = AS_OF - timedelta(days=5)
    north = [RetailerFactory(region="North", segment=GROCERY, name=f"North grocer {i}") for i in range(8)]
    for index, retailer in enumerate(north):
        bought = [oat_milk, muesli] + ([granola] if index < 2 else []) + ([porridge] if index < 6 else [])
        _order(retailer, bought, day)
    for index in range(6):
        south = RetailerFactory(region="South", segment=CONVENIENCE, name=f"South shop {index}")
        _order(south, [granola, muesli, porridge], day)
    # Three grocers in East: too few to be shown as a group anywhere.
    for index in range(3):
        _order(RetailerFactory(region="East", segment=GROCERY, name=f"East grocer {index}"), [oat_milk], day)
    # Never sold to: buys only another vendor's product.
    _order(RetailerFactory(region="North", segment=GROCERY, name="Stranger Stores"), [rival], day)
    # The vendor's own customers, on their own cadences (West: a group of one, shown only as lapsing).
    lapsed = RetailerFactory(region="West", name="Lapsed Larder")
    for offset in (100, 90, 80, 70):
        _order(lapsed, [muesli], AS_OF - timedelta(days=offset))
    steady = RetailerFactory(region="West", name="Steady Stores")
    for offset in (30, 20, 10, 1):
        _order(steady, [muesli], AS_OF - timedelta(days=offset))
    twice = RetailerFactory(region="West", name="Twice Only")
    for offset in (200, 100):
        _order(twice, [muesli], AS_OF - timedelta(days=offset))
    _order(RetailerFactory(name="Anchor of the as-of day"), [rival], AS_OF)
    ProductAssociationFactory(product=granola, other=oat_milk, lift=2.4, rank=0)
    # Bought with another vendor's product: never evidence on this vendor's page.
    ProductAssociationFactory(product=granola, other=rival, lift=5.1, rank=1)
    vendor_rollups_refresh(vendor_id=vendor.pk)
    return World(member, granola, muesli, porridge, oat_milk, rival)


def _lines(*, vendor: object, start: date, end: date) -> list[OrderLine]:
    return list(
        OrderLine.objects.filter(
            product__vendor=vendor,
            order__status=Order.Status.PLACED,
            order__placed_at__date__gte=start,
            order__placed_at__date__lte=end,
        ).select_related("order__retailer", "product")
    )


def _recompute_penetration(row: insights.PenetrationGap, *, vendor: object) -> dict:
    """The row's numbers straight from placed order lines of the period."""
    lines = _lines(vendor=vendor, start=PERIOD_START, end=AS_OF)

    def group_of(line: OrderLine) -> str:
        return getattr(line.order.retailer, row.dimension)

    active = {line.order.retailer_id for line in lines if group_of(line) == row.group}
    product = next(line.product for line in lines if line.product_id == row.product_id)
    in_category = {line.product_id for line in lines if line.product.category_id == product.category_id}
    buyers_by_product = defaultdict(set)
    for line in lines:
        if group_of(line) == row.group and line.product_id in in_category:
            buyers_by_product[line.product_id].add(line.order.retailer_id)
    return {
        "buyers": len(buyers_by_product[row.product_id]),
        "active_retailers": len(active),
        "category_products": len(in_category),
        "category_buyers": sum(len(buyers) for buyers in buyers_by_product.values()),
    }


def test_penetration_gaps_are_recomputed_from_raw_orders(client: Client) -> None:
    world = _world()
    client.force_login(world.member)

    response = client.get(INSIGHTS)

    rows = response.context["insights"].penetration
    assert rows
    for row in rows:
        assert {
            "buyers": row.buyers,
            "active_retailers": row.active_retailers,
            "category_products": row.category_products,
            "category_buyers": row.category_buyers,
        } == _recompute_penetration(row, vendor=world.member.vendor)
        assert row.active_retailers >= insights.MIN_GROUP_RETAILERS
        assert row.penetration < row.category_average
    granola_north = next(r for r in rows if r.product_id == world.granola.pk and r.group == "North")
    assert (granola_north.buyers, granola_north.active_retailers) == (2, 8)
    assert granola_north.sentence == (
        "Granola was bought by 2 of the 8 retailers in North that ordered from you (25.0%); "
        "your 3 Cereal products reach 66.7% there on average."
    )
    assert escape(granola_north.sentence) in response.content.decode()


def test_a_product_no_retailer_of_a_group_bought_is_the_largest_gap(client: Client) -> None:
    member = UserFactory(vendor_member=True)
    vendor = member.vendor
    tea = CategoryFactory(name="Tea")
    earl_grey = ProductFactory(vendor=vendor, category=tea, name="Earl Grey")
    assam = ProductFactory(vendor=vendor, category=tea, name="Assam")
    darjeeling = ProductFactory(vendor=vendor, category=tea, name="Darjeeling")
    biscuits = CategoryFactory(name="Biscuits")
    shortbread = ProductFactory(vendor=vendor, category=biscuits, name="Shortbread")
    digestive = ProductFactory(vendor=vendor, category=biscuits, name="Digestive")
    day = AS_OF - timedelta(days=3)
    # Yorkshire buys Darjeeling's companions, never Darjeeling, and no biscuits at all.
    for _index in range(6):
        _order(RetailerFactory(region="Yorkshire", segment=GROCERY), [earl_grey, assam], day)
    for index in range(5):
        bought = [darjeeling, earl_grey, shortbread] + ([digestive] if index < 2 else [])
        _order(RetailerFactory(region="North", segment=GROCERY), bought, day)
    # Too few to be a group: no gap of theirs is shown, though they never bought Assam.
    for _index in range(4):
        _order(RetailerFactory(region="Cornwall", segment=GROCERY), [darjeeling, earl_grey], day)
    vendor_rollups_refresh(vendor_id=vendor.pk)
    client.force_login(member)

    response = client.get(INSIGHTS)

    rows = response.context["insights"].penetration
    gap = rows[0]
    assert (gap.product_id, gap.dimension, gap.group) == (darjeeling.pk, "region", "Yorkshire")
    assert (
        {
            "buyers": gap.buyers,
            "active_retailers": gap.active_retailers,
            "category_products": gap.category_products,
            "category_buyers": gap.category_buyers,
        }
        == _recompute_penetration(gap, vendor=vendor)
        == {
            "buyers": 0,
            "active_retailers": 6,
            "category_products": 3,
            "category_buyers": 12,
        }
    )
    assert gap.sentence == (
        "None of the 6 retailers in Yorkshire that ordered from you bought Darjeeling; "
        "your 3 Tea products reach 66.7% there on average."
    )
    assert escape(gap.sentence) in response.content.decode()
    for row in rows:
        assert row.penetration < row.category_average
        assert row.active_retailers >= insights.MIN_GROUP_RETAILERS
    assert ("region", "North", assam.pk, 0) in {(r.dimension, r.group, r.product_id, r.buyers) for r in rows}
    # Biscuits sell nowhere in Yorkshire, so their absence there is no gap; Cornwall is too small.
    assert not {(r.group, r.product_id) for r in rows} & {
        ("Yorkshire", shortbread.pk),
        ("Yorkshire", digestive.pk),
    }
    assert all(row.group != "Cornwall" for row in rows)
    # Largest shortfall first: the rows come in the order the table promises.
    shortfalls = [
        r.active_retailers * _buyers_anywhere(r.product_id, vendor=vendor) / 15 - r.buyers for r in rows
    ]
    assert shortfalls == sorted(shortfalls, reverse=True)


def _buyers_anywhere(product_id: int, *, vendor: object) -> int:
    lines = _lines(vendor=vendor, start=PERIOD_START, end=AS_OF)
    return len({line.order.retailer_id for line in lines if line.product_id == product_id})


def test_prospects_quote_numbers_recomputed_from_raw_orders(client: Client) -> None:
    world = _world()
    client.force_login(world.member)

    response = client.get(INSIGHTS)

    prospects = response.context["insights"].prospects
    assert prospects
    lines = _lines(vendor=world.member.vendor, start=PERIOD_START, end=AS_OF)
    for row in prospects:
        in_group = [
            line
            for line in lines
            if (line.order.retailer.region, line.order.retailer.segment) == (row.region, row.segment)
        ]
        anchor_buyers = {line.order.retailer_id for line in in_group if line.product_id == row.anchor_id}
        target_buyers = {line.order.retailer_id for line in in_group if line.product_id == row.product_id}
        assert row.anchor_buyers == len(anchor_buyers) >= insights.MIN_GROUP_RETAILERS
        assert row.both_buyers == len(anchor_buyers & target_buyers)
    north = next(row for row in prospects if row.product_id == world.granola.pk)
    assert north.sentence == (
        "8 retailers in North (Independent grocer) bought Oat milk, often bought with Granola (lift 2.4), "
        "but only 2 of them bought Granola."
    )
    assert north.prospects == 6
    assert escape(north.sentence) in response.content.decode()


def test_never_sold_to_retailers_and_small_groups_never_appear(client: Client) -> None:
    world = _world()
    client.force_login(world.member)

    response = client.get(INSIGHTS)

    content = response.content.decode()
    found = response.context["insights"]
    assert "Stranger Stores" not in content
    assert "Rival rye bread" not in content
    assert all(row.anchor_id != world.rival.pk for row in found.prospects)
    assert all(row.region != "East" for row in found.prospects)
    assert all(row.group not in ("East", "West") for row in found.penetration)
    # Shown groups of retailers hold at least five of them; only the vendor's own customers are named.
    assert all(row.anchor_buyers >= 5 for row in found.prospects)
    for name in [f"North grocer {index}" for index in range(8)] + ["East grocer 0", "South shop 0"]:
        assert name not in content
    for table in ("penetration", "prospects", "lapsing"):
        download = b"".join(
            client.get(reverse("vendors:insights_csv", args=[table])).streaming_content
        ).decode()
        assert "Stranger Stores" not in download
        assert "Rival rye bread" not in download
        assert "East grocer" not in download


def test_lapsing_buyers_are_overdue_against_their_own_cadence(client: Client) -> None:
    world = _world()
    client.force_login(world.member)

    response = client.get(INSIGHTS)

    lapsing = response.context["insights"].lapsing
    assert [row.retailer_name for row in lapsing] == ["Lapsed Larder"]
    row = lapsing[0]
    days = sorted(
        {
            line.order.placed_at.date()
            for line in _lines(vendor=world.member.vendor, start=date(2000, 1, 1), end=AS_OF)
            if line.order.retailer_id == row.retailer_id
        }
    )
    intervals = [(later - earlier).days for earlier, later in pairwise(days)]
    assert row.order_days == len(days) == 4
    assert row.median_interval == median(intervals) == 10
    assert row.days_since == (AS_OF - days[-1]).days == 70
    assert row.days_since > insights.LAPSE_FACTOR * row.median_interval
    assert row.sentence == (
        "Lapsed Larder ordered from you on 4 days, typically every 10 days; "
        "the last order was 70 days ago (7.0x its usual interval)."
    )
    assert escape(row.sentence) in response.content.decode()


def test_a_new_rollup_refresh_replaces_the_kept_insights(client: Client) -> None:
    world = _world()
    client.force_login(world.member)
    client.get(INSIGHTS)
    newcomer = RetailerFactory(region="North", segment=GROCERY)
    _order(newcomer, [world.oat_milk, world.muesli], AS_OF - timedelta(days=2))
    vendor_rollups_refresh(vendor_id=world.member.vendor_id)

    response = client.get(INSIGHTS)

    north = next(r for r in response.context["insights"].prospects if r.product_id == world.granola.pk)
    assert north.anchor_buyers == 9


@pytest.mark.parametrize("table", ["penetration", "prospects", "lapsing"])
def test_insight_tables_download_as_csv_for_the_same_period(client: Client, table: str) -> None:
    world = _world()
    client.force_login(world.member)

    response = client.get(reverse("vendors:insights_csv", args=[table]), {"period": "365"})

    rows = list(csv.reader(b"".join(response.streaming_content).decode().splitlines()))
    page = client.get(INSIGHTS, {"period": "365"}).context["insights"]
    assert [row[-1] for row in rows[1:]] == [item.sentence for item in getattr(page, table)]
    assert f"{AS_OF - timedelta(days=364):%Y%m%d}" in response["Content-Disposition"]


def test_insights_are_computed_ahead_for_the_preset_periods(
    client: Client, django_assert_max_num_queries: object
) -> None:
    world = _world()
    computed = insights.vendor_insights_compute(vendor_id=world.member.vendor_id)
    assert [(found.start, found.end) for found in computed] == [
        (AS_OF - timedelta(days=days - 1), AS_OF) for days in (7, 30, 90, 365)
    ]
    client.force_login(world.member)

    # session, user, vendor, analytics, active version: the figures come from the kept result.
    with django_assert_max_num_queries(5):
        response = client.get(INSIGHTS, {"period": "90"})

    assert response.status_code == 200
    assert response.context["insights"] == computed[2]


def test_insights_query_count_is_constant_when_computed_on_the_request(
    client: Client, django_assert_max_num_queries: object
) -> None:
    world = _world()
    for index in range(20):
        _order(RetailerFactory(region=f"Region {index % 3}"), [world.granola, world.muesli], AS_OF)
    vendor_rollups_refresh(vendor_id=world.member.vendor_id)
    client.force_login(world.member)

    # session, user, vendor, analytics, version; buyer pairs, buyers' groups, associations, product
    # names, category names, order days, lapsing buyers' names.
    with django_assert_max_num_queries(12):
        response = client.get(INSIGHTS, {"period": "custom", "start": "2024-01-01", "end": "2024-06-30"})

    assert response.status_code == 200


def test_a_cache_outage_degrades_to_computing_on_the_request(client: Client, settings: object) -> None:
    world = _world()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port}/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    client.force_login(world.member)

    response = client.get(INSIGHTS)

    assert response.status_code == 200
    assert [row.retailer_name for row in response.context["insights"].lapsing] == ["Lapsed Larder"]


def test_insights_page_serves_the_period_figures_alone_to_htmx(client: Client) -> None:
    world = _world()
    client.force_login(world.member)

    response = client.get(INSIGHTS, {"period": "7"}, headers={"HX-Request": "true"})

    content = response.content.decode()
    assert content.lstrip().startswith('<div id="period-figures">')
    assert "<html" not in content
