"""The Overview and Breakdowns figures, recomputed here from the raw order lines and found equal.

The world is random but seeded: two vendors sharing retailers and baskets, over two years and a bit, with
draft and cancelled orders that must not count.
"""

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.http import Http404

from accounts.models import Retailer
from accounts.tests.factories import RetailerFactory
from catalog.tests.factories import CategoryFactory, ProductFactory
from orders.models import Order, OrderLine
from orders.tests.factories import OrderFactory, OrderLineFactory
from vendors import selectors
from vendors.models import ForecastRun, ProductForecast
from vendors.periods import Period, preset_period
from vendors.services import vendor_rollups_refresh
from vendors.tests.factories import VendorFactory

pytestmark = pytest.mark.django_db

AS_OF = date(2024, 6, 30)
FIRST_DAY = AS_OF - timedelta(days=800)


@dataclass
class World:
    vendor_id: int
    rival_id: int
    categories: list
    products: list
    rival_products: list


def build_world(seed: int = 7, orders: int = 260) -> World:
    rng = random.Random(seed)
    vendor, rival = VendorFactory(name="Own vendor"), VendorFactory(name="Rival vendor")
    parent = CategoryFactory(name="Pantry")
    categories = [
        CategoryFactory(name="Jams", parent=parent),
        CategoryFactory(name="Teas", parent=parent),
        CategoryFactory(name="Candles"),
    ]
    products = [
        ProductFactory(
            vendor=vendor, category=categories[i % 3], name=f"Own product {i}", unit_price=Decimal(p)
        )
        for i, p in enumerate(["1.25", "2.50", "3.10", "0.99", "7.00"])
    ]
    rival_products = [ProductFactory(vendor=rival, name=f"Rival product {i}") for i in range(2)]
    retailers = [
        RetailerFactory(region=region, segment=segment, size=size)
        for region, segment, size in [
            ("North", Retailer.Segment.GROCERY, Retailer.Size.LARGE),
            ("North", Retailer.Segment.CAFE, Retailer.Size.SMALL),
            ("South", Retailer.Segment.GROCERY, Retailer.Size.MEDIUM),
            ("", Retailer.Segment.GIFT, Retailer.Size.SMALL),
            ("West", Retailer.Segment.CONVENIENCE, Retailer.Size.SMALL),
            ("West", Retailer.Segment.WHOLESALE, Retailer.Size.LARGE),
        ]
    ]
    for index in range(orders):
        day = FIRST_DAY + timedelta(days=rng.randrange(801))
        # Some orders just before and after midnight UTC: the day is the UTC day.
        moment = (
            time(23, 59) if index % 11 == 0 else time(0, 1) if index % 13 == 0 else time(rng.randrange(24))
        )
        status = rng.choice([Order.Status.PLACED] * 8 + [Order.Status.CANCELLED])
        order = OrderFactory(
            retailer=rng.choice(retailers), status=status, placed_at=datetime.combine(day, moment, tzinfo=UTC)
        )
        for product in rng.sample(products + rival_products, rng.randrange(1, 4)):
            OrderLineFactory(
                order=order,
                product=product,
                quantity=rng.randrange(1, 30),
                unit_price=product.unit_price + Decimal(rng.randrange(0, 50)) / 100,
            )
    # An open basket of the vendor's products: never a sale.
    OrderLineFactory(
        order=OrderFactory(basket=True, retailer=retailers[0]), product=products[0], quantity=500
    )
    # The platform's latest placed order (the rival's) sets the as-of day of every vendor.
    OrderLineFactory(
        order=OrderFactory(placed_at=datetime.combine(AS_OF, time(12), tzinfo=UTC), retailer=retailers[1]),
        product=rival_products[0],
    )
    vendor_rollups_refresh(vendor_id=vendor.pk)
    vendor_rollups_refresh(vendor_id=rival.pk)
    return World(vendor.pk, rival.pk, categories, products, rival_products)


def raw_lines(vendor_id: int, start: date, end: date, **filters: object) -> list[OrderLine]:
    """The vendor's placed lines with a UTC day in [start, end], read the plain way."""
    lines = OrderLine.objects.filter(
        product__vendor_id=vendor_id, order__status=Order.Status.PLACED, **filters
    ).select_related("order__retailer", "product")
    return [line for line in lines if start <= line.order.placed_at.astimezone(UTC).date() <= end]


def raw_kpis(vendor_id: int, period: Period) -> dict:
    lines = raw_lines(vendor_id, period.start, period.end)
    orders_by_retailer = defaultdict(set)
    for line in lines:
        orders_by_retailer[line.order.retailer_id].add(line.order_id)
    active = len(orders_by_retailer)
    repeat = sum(1 for orders in orders_by_retailer.values() if len(orders) >= 2)
    return {
        "revenue": sum((line.quantity * line.unit_price for line in lines), Decimal("0")),
        "units": sum(line.quantity for line in lines),
        "orders": len({line.order_id for line in lines}),
        "retailers": active,
        "repeat_share": repeat * 100 / active if active else None,
    }


def assert_kpis_equal(kpis: selectors.Kpis, expected: dict) -> None:
    assert kpis.revenue == expected["revenue"]
    assert kpis.units == expected["units"]
    assert kpis.orders == expected["orders"]
    assert kpis.retailers == expected["retailers"]
    assert kpis.repeat_share == pytest.approx(expected["repeat_share"])


PERIODS = [
    *(preset_period(days, as_of=AS_OF) for days in (7, 30, 90, 365)),
    Period(start=date(2023, 11, 5), end=date(2024, 2, 17), preset="custom"),
]


@pytest.mark.parametrize("period", PERIODS, ids=lambda period: period.label)
def test_kpis_equal_the_raw_orders_for_the_period_the_one_before_and_a_year_earlier(period: Period) -> None:
    world = build_world()

    kpis = selectors.vendor_kpis(vendor_id=world.vendor_id, period=period)

    assert_kpis_equal(kpis.current, raw_kpis(world.vendor_id, period))
    assert_kpis_equal(kpis.previous, raw_kpis(world.vendor_id, period.previous))
    assert kpis.year_ago is not None, "the world starts 800 days before as-of"
    assert_kpis_equal(kpis.year_ago, raw_kpis(world.vendor_id, period.year_ago))
    revenue = kpis.comparisons[0]
    assert revenue.previous_change == pytest.approx(
        float((kpis.current.revenue - kpis.previous.revenue) / kpis.previous.revenue * 100)
    )


def test_without_data_a_year_back_the_year_earlier_comparison_is_absent_not_zero() -> None:
    product = ProductFactory()
    OrderLineFactory(product=product, order__placed_at=datetime(2024, 6, 1, 10, tzinfo=UTC), quantity=4)
    vendor_rollups_refresh(vendor_id=product.vendor_id)

    kpis = selectors.vendor_kpis(
        vendor_id=product.vendor_id, period=preset_period(30, as_of=date(2024, 6, 1))
    )

    assert kpis.year_ago is None
    assert all(row.year_ago is None and row.year_ago_change is None for row in kpis.comparisons)
    assert kpis.current.units == 4
    # Nothing in the previous period: no percent change is made up.
    assert kpis.comparisons[0].previous_change is None


def raw_breakdown(vendor_id: int, dimension: str, period: Period, **filters: object) -> dict:
    def key(line: OrderLine) -> object:
        if dimension == "category":
            return line.product.category_id
        if dimension == "retailer":
            return line.order.retailer_id
        return getattr(line.order.retailer, dimension)

    def new_row() -> dict:
        return {"units": 0, "revenue": Decimal("0"), "retailers": set(), "products": set(), "last": None}

    figures: dict = defaultdict(new_row)
    for line in raw_lines(vendor_id, period.start, period.end, **filters):
        row = figures[key(line)]
        row["units"] += line.quantity
        row["revenue"] += line.quantity * line.unit_price
        row["retailers"].add(line.order.retailer_id)
        row["products"].add(line.product_id)
        day = line.order.placed_at.astimezone(UTC).date()
        row["last"] = max(row["last"] or day, day)
    previous: dict = defaultdict(lambda: [0, Decimal("0")])
    for line in raw_lines(vendor_id, period.previous.start, period.previous.end, **filters):
        previous[key(line)][0] += line.quantity
        previous[key(line)][1] += line.quantity * line.unit_price
    total = sum(row["revenue"] for row in figures.values())
    extra = {
        "category": lambda row: len(row["products"]),
        "retailer": lambda row: row["last"],
    }.get(dimension, lambda row: len(row["retailers"]))
    return {
        group: (
            row["units"],
            row["revenue"],
            *previous[group],
            pytest.approx(float(row["revenue"] * 100 / total)),
            extra(row),
        )
        for group, row in figures.items()
    }


def as_table(breakdown: selectors.Breakdown) -> dict:
    def extra(row: selectors.BreakdownRow) -> object:
        if breakdown.dimension == "category":
            return row.products
        if breakdown.dimension == "retailer":
            return row.last_order
        return row.retailers

    return {
        row.key: (row.units, row.revenue, row.previous_units, row.previous_revenue, row.share, extra(row))
        for row in breakdown.rows
    }


@pytest.mark.parametrize("dimension", selectors.DIMENSIONS)
@pytest.mark.parametrize("period", [PERIODS[0], PERIODS[3], PERIODS[4]], ids=["7 days", "365 days", "custom"])
def test_breakdowns_equal_the_raw_orders(dimension: str, period: Period) -> None:
    world = build_world()

    breakdown = selectors.vendor_breakdown(
        vendor_id=world.vendor_id, dimension=dimension, period=period, filters=selectors.DemandFilter()
    )

    assert as_table(breakdown) == raw_breakdown(world.vendor_id, dimension, period)
    assert breakdown.total_revenue == sum(row.revenue for row in breakdown.rows)


@pytest.mark.parametrize("dimension", ["region", "retailer", "category"])
def test_breakdowns_narrowed_to_a_category_or_a_product_equal_the_raw_orders(dimension: str) -> None:
    world = build_world()
    period = PERIODS[3]
    pantry = world.categories[0].parent

    by_category = selectors.vendor_breakdown(
        vendor_id=world.vendor_id,
        dimension=dimension,
        period=period,
        filters=selectors.demand_filter(
            vendor_id=world.vendor_id, category_id=str(pantry.pk), product_id=None
        ),
    )
    by_product = selectors.vendor_breakdown(
        vendor_id=world.vendor_id,
        dimension=dimension,
        period=period,
        filters=selectors.demand_filter(
            vendor_id=world.vendor_id, category_id=None, product_id=str(world.products[1].pk)
        ),
    )

    # The parent category covers its children's products.
    assert as_table(by_category) == raw_breakdown(
        world.vendor_id, dimension, period, product__category__parent=pantry
    )
    assert as_table(by_product) == raw_breakdown(
        world.vendor_id, dimension, period, product=world.products[1]
    )


def test_a_filter_on_another_vendors_product_or_category_is_not_found() -> None:
    world = build_world(orders=20)
    rival_category = world.rival_products[0].category

    with pytest.raises(Http404):
        selectors.demand_filter(
            vendor_id=world.vendor_id, category_id=None, product_id=str(world.rival_products[0].pk)
        )
    with pytest.raises(Http404):
        selectors.demand_filter(
            vendor_id=world.vendor_id, category_id=str(rival_category.pk), product_id=None
        )
    with pytest.raises(Http404):
        selectors.demand_filter(vendor_id=world.vendor_id, category_id="1 OR 1=1", product_id=None)


def test_breakdown_sorts_by_the_requested_column_and_direction() -> None:
    world = build_world()
    period = PERIODS[3]

    def names(sort: str) -> list[str]:
        breakdown = selectors.vendor_breakdown(
            vendor_id=world.vendor_id,
            dimension="region",
            period=period,
            filters=selectors.DemandFilter(),
            sort=sort,
        )
        return [row.name for row in breakdown.rows]

    assert names("name") == sorted(names("name"), key=str.casefold)
    assert names("-name") == list(reversed(names("name")))
    by_units = selectors.vendor_breakdown(
        vendor_id=world.vendor_id,
        dimension="region",
        period=period,
        filters=selectors.DemandFilter(),
        sort="units",
    )
    assert [row.units for row in by_units.rows] == sorted(row.units for row in by_units.rows)
    assert selectors.parse_sort("-; DROP TABLE", dimension="region") == selectors.DEFAULT_SORT
    assert selectors.parse_sort("last_order", dimension="region") == selectors.DEFAULT_SORT
    assert selectors.parse_sort("-last_order", dimension="retailer") == "-last_order"
    assert "Region not given" in names("name")


def raw_movers(vendor_id: int, period: Period) -> tuple[list, list]:
    units: dict = defaultdict(lambda: [0, 0])
    names = {}
    for index, window in enumerate((period, period.previous)):
        for line in raw_lines(vendor_id, window.start, window.end):
            units[line.product_id][index] += line.quantity
            names[line.product_id] = line.product.name
    deltas = [(pid, now - before, names[pid]) for pid, (now, before) in units.items()]
    rising = sorted((d for d in deltas if d[1] > 0), key=lambda d: (-d[1], d[2], d[0]))
    falling = sorted((d for d in deltas if d[1] < 0), key=lambda d: (d[1], d[2], d[0]))
    return [(pid, delta) for pid, delta, _ in rising], [(pid, delta) for pid, delta, _ in falling]


@pytest.mark.parametrize("period", PERIODS, ids=lambda period: period.label)
def test_rising_and_falling_products_equal_the_raw_orders(period: Period) -> None:
    world = build_world()

    rising, falling = selectors.vendor_movers(vendor_id=world.vendor_id, period=period)

    expected_rising, expected_falling = raw_movers(world.vendor_id, period)
    assert [(mover.product_id, mover.units_delta) for mover in rising] == expected_rising
    assert [(mover.product_id, mover.units_delta) for mover in falling] == expected_falling
    assert not {mover.product_id for mover in rising + falling} & {p.pk for p in world.rival_products}


def test_weekly_demand_equals_the_raw_orders_and_the_forecast_follows_the_last_full_week() -> None:
    world = build_world()
    analytics = selectors.vendor_analytics(vendor_id=world.vendor_id)
    # AS_OF is a Sunday: its own week is the last full one.
    last_week = date(2024, 6, 24)
    run = ForecastRun.objects.create(
        vendor_id=world.vendor_id, status=ForecastRun.Status.DONE, last_week=last_week
    )
    weeks = [
        {
            "week": (last_week + timedelta(weeks=n)).isoformat(),
            "point": 10.0 + n,
            "lo80": 8.0,
            "hi80": 12.0 + n,
        }
        | {"lo95": 6.0, "hi95": 15.0 + n}
        for n in (1, 2)
    ]
    ProductForecast.objects.create(
        run=run, product=None, method="ets", method_label="ETS", reason="r", weeks=weeks
    )
    analytics.forecast_run = run
    analytics.save()

    chart = selectors.vendor_demand_chart(vendor_id=world.vendor_id, analytics=analytics, weeks=10)

    actual = [week for week in chart.weeks if not week.is_forecast]
    assert [week.week for week in actual] == [last_week - timedelta(weeks=9 - n) for n in range(10)]
    for week in actual:
        lines = raw_lines(world.vendor_id, week.week, week.week + timedelta(days=6))
        assert week.units == sum(line.quantity for line in lines)
        assert week.revenue == sum((line.quantity * line.unit_price for line in lines), Decimal("0"))
    forecast = [week for week in chart.weeks if week.is_forecast]
    assert [(week.week, week.point, week.hi95) for week in forecast] == [
        (date(2024, 7, 1), 11.0, 16.0),
        (date(2024, 7, 8), 12.0, 17.0),
    ]
    spec = chart.spec()
    assert spec["labels"][-1] == "2024-07-08"
    assert spec["series"][2]["values"] == [None] * 10 + [11.0, 12.0]
    assert spec["band80"]["high"][-2:] == [13.0, 14.0] and spec["band80"]["low"][0] is None


def test_the_pages_read_a_constant_number_of_queries(django_assert_max_num_queries) -> None:
    world = build_world(orders=60)
    period = PERIODS[4]
    with django_assert_max_num_queries(2):
        selectors.vendor_kpis(vendor_id=world.vendor_id, period=period)
    with django_assert_max_num_queries(2):
        selectors.vendor_movers(vendor_id=world.vendor_id, period=period)
    for dimension in selectors.DIMENSIONS:
        with django_assert_max_num_queries(2):
            selectors.vendor_breakdown(
                vendor_id=world.vendor_id,
                dimension=dimension,
                period=period,
                filters=selectors.DemandFilter(),
            )


@pytest.mark.parametrize(
    "sort", ["-revenue", "revenue", "units", "-units", "name", "-name", "trend", "-trend", "last_order"]
)
def test_a_retailer_page_sorted_in_sql_is_the_slice_of_the_whole_table(sort: str) -> None:
    world = build_world()
    period = PERIODS[3]
    whole = selectors.vendor_breakdown(
        vendor_id=world.vendor_id,
        dimension="retailer",
        period=period,
        filters=selectors.DemandFilter(),
        sort=sort,
    )

    pages = [
        selectors.vendor_retailer_page(
            vendor_id=world.vendor_id,
            period=period,
            filters=selectors.DemandFilter(),
            sort=sort,
            page_number=number,
            page_size=4,
        )
        for number in (1, 2)
    ]

    assert pages[0].page.paginator.count == len(whole.rows) == 6
    assert pages[0].breakdown.rows + pages[1].breakdown.rows == whole.rows
    assert pages[1].top.rows == sorted(whole.rows, key=lambda row: -row.revenue)[:12]
    assert pages[0].breakdown.total_revenue == whole.total_revenue


@pytest.mark.parametrize("sort", ["-revenue", "units", "name", "-name", "trend", "-trend", "last_order"])
def test_the_retailer_rows_of_a_download_are_the_whole_table_in_the_same_order(
    sort: str, django_assert_max_num_queries
) -> None:
    world = build_world()
    period = PERIODS[3]
    whole = selectors.vendor_breakdown(
        vendor_id=world.vendor_id,
        dimension="retailer",
        period=period,
        filters=selectors.DemandFilter(),
        sort=sort,
    )

    with django_assert_max_num_queries(1):
        download = selectors.vendor_retailer_rows(
            vendor_id=world.vendor_id, period=period, filters=selectors.DemandFilter(), sort=sort
        )

    assert download.total_revenue == whole.total_revenue
    assert download.rows == [
        (row.name, row.units, row.revenue, row.previous_units, row.previous_revenue, row.last_order)
        for row in whole.rows
    ]
