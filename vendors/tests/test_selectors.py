from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from accounts.models import Retailer
from accounts.tests.factories import RetailerFactory
from catalog.models import Product
from catalog.tests.factories import ProductFactory
from orders.tests.factories import OrderFactory, OrderLineFactory
from vendors import selectors
from vendors.tests.factories import VendorFactory

pytestmark = pytest.mark.django_db

# A Thursday, so week boundaries are exercised away from the window's end.
AS_OF = datetime(2026, 3, 12, 18, 0, tzinfo=UTC)


def _sell(
    product: Product, *, days_ago: float, quantity: int, price: str = "2.00", retailer: Retailer | None = None
) -> None:
    order = OrderFactory(placed_at=AS_OF - timedelta(days=days_ago), retailer=retailer or RetailerFactory())
    OrderLineFactory(order=order, product=product, quantity=quantity, unit_price=Decimal(price))


def test_period_figures_split_current_and_previous_periods() -> None:
    vendor = VendorFactory()
    product = ProductFactory(vendor=vendor)
    shop_a, shop_b = RetailerFactory(), RetailerFactory()
    _sell(product, days_ago=1, quantity=3, retailer=shop_a)
    _sell(product, days_ago=29, quantity=2, retailer=shop_b)
    _sell(product, days_ago=45, quantity=10, retailer=shop_a)
    _sell(product, days_ago=100, quantity=7, retailer=shop_a)

    by_days = {p.days: p for p in selectors.vendor_period_figures(vendor=vendor, as_of=AS_OF)}

    last_30 = by_days[30]
    assert (last_30.units, last_30.revenue, last_30.retailers, last_30.orders) == (5, Decimal("10.00"), 2, 2)
    assert (last_30.previous_units, last_30.previous_revenue, last_30.previous_retailers) == (
        10,
        Decimal("20.00"),
        1,
    )
    assert last_30.units_change == pytest.approx(-50.0)
    last_90 = by_days[90]
    assert (last_90.units, last_90.previous_units, last_90.retailers) == (15, 7, 2)


def test_period_figures_count_only_placed_orders_of_this_vendor() -> None:
    vendor = VendorFactory()
    product = ProductFactory(vendor=vendor)
    _sell(product, days_ago=2, quantity=1)
    OrderLineFactory(order=OrderFactory(basket=True), product=product, quantity=50)
    OrderLineFactory(
        order=OrderFactory(cancelled=True, placed_at=AS_OF - timedelta(days=2)), product=product, quantity=60
    )
    _sell(ProductFactory(), days_ago=2, quantity=70)

    last_30 = selectors.vendor_period_figures(vendor=vendor, as_of=AS_OF)[0]

    assert last_30.units == 1


def test_period_figures_of_a_vendor_without_sales_are_zero() -> None:
    figures = selectors.vendor_period_figures(vendor=VendorFactory(), as_of=AS_OF)

    assert [(p.units, p.revenue, p.retailers, p.units_change) for p in figures] == [
        (0, Decimal("0.00"), 0, None),
        (0, Decimal("0.00"), 0, None),
    ]


def test_orders_after_as_of_are_ignored() -> None:
    vendor = VendorFactory()
    _sell(ProductFactory(vendor=vendor), days_ago=-1, quantity=9)

    assert selectors.vendor_period_figures(vendor=vendor, as_of=AS_OF)[0].units == 0


def test_top_products_rank_by_revenue_and_exclude_other_vendors() -> None:
    vendor = VendorFactory()
    cheap = ProductFactory(vendor=vendor, name="Cheap")
    dear = ProductFactory(vendor=vendor, name="Dear")
    _sell(cheap, days_ago=3, quantity=10, price="1.00")
    _sell(dear, days_ago=3, quantity=2, price="9.00")
    _sell(ProductFactory(name="Someone else's"), days_ago=3, quantity=100, price="9.00")

    top = selectors.vendor_top_products(vendor=vendor, as_of=AS_OF)

    assert [(row["product__name"], row["units"], row["revenue"]) for row in top] == [
        ("Dear", 2, Decimal("18.00")),
        ("Cheap", 10, Decimal("10.00")),
    ]


def test_product_performance_lists_every_own_product_best_first() -> None:
    vendor = VendorFactory()
    unsold = ProductFactory(vendor=vendor, name="Unsold")
    seller = ProductFactory(vendor=vendor, name="Seller")
    _sell(seller, days_ago=5, quantity=4)
    _sell(seller, days_ago=35, quantity=6)
    ProductFactory(name="Foreign")

    rows = list(selectors.vendor_product_performance(vendor=vendor, as_of=AS_OF))

    assert [row.product.name for row in rows] == ["Seller", "Unsold"]
    seller_figures = rows[0].figures
    assert (seller_figures["units_30"], seller_figures["prev_units_30"]) == (4, 6)
    assert (seller_figures["units_90"], seller_figures["revenue_90"]) == (10, Decimal("20.00"))
    assert (rows[1].figures["units_30"], rows[1].figures["revenue_90"]) == (0, 0)
    assert rows[1].product.pk == unsold.pk


def test_weekly_demand_has_twelve_monday_weeks_with_gaps_filled() -> None:
    vendor = VendorFactory()
    product = ProductFactory(vendor=vendor)
    _sell(product, days_ago=0, quantity=4)
    _sell(product, days_ago=1, quantity=4)
    _sell(product, days_ago=14, quantity=2)
    _sell(product, days_ago=200, quantity=99)

    series = selectors.vendor_weekly_demand(vendor=vendor, as_of=AS_OF)

    assert len(series) == 12
    assert all(week.week_start.weekday() == 0 for week in series)
    assert series[-1].week_start == AS_OF.date() - timedelta(days=AS_OF.weekday())
    assert (series[-1].units, series[-1].orders, series[-1].share_of_peak) == (8, 2, 100)
    assert (series[-3].units, series[-3].share_of_peak) == (2, 25)
    assert sum(week.units for week in series) == 10


def test_analytics_as_of_is_the_latest_placed_order() -> None:
    placed_at = datetime(2011, 12, 9, 12, 50, tzinfo=UTC)
    OrderFactory(placed_at=placed_at)
    OrderFactory(placed_at=placed_at - timedelta(days=3))
    OrderFactory(basket=True)

    assert selectors.analytics_as_of() == placed_at


def test_analytics_as_of_without_orders_is_now() -> None:
    assert abs(selectors.analytics_as_of() - datetime.now(UTC)) < timedelta(minutes=1)
