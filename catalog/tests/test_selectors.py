from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.tests.factories import RetailerFactory
from catalog.selectors import Bought, ProductFilters, Sort, product_purchase_history, product_search
from catalog.tests.factories import CategoryFactory, ProductFactory
from orders.tests.factories import OrderFactory, OrderLineFactory
from vendors.tests.factories import VendorFactory

pytestmark = pytest.mark.django_db


def _names(retailer, **filters) -> list[str]:
    return [product.name for product in product_search(retailer=retailer, filters=ProductFilters(**filters))]


def test_it_lists_only_active_products_sorted_by_name() -> None:
    retailer = RetailerFactory()
    ProductFactory(name="Bravo")
    ProductFactory(name="Alpha")
    ProductFactory(name="Gone", is_active=False)
    assert _names(retailer) == ["Alpha", "Bravo"]


def test_it_matches_every_search_word_in_the_name_or_the_exact_sku() -> None:
    retailer = RetailerFactory()
    ProductFactory(name="Red heart candle holder")
    ProductFactory(name="Red mug")
    ProductFactory(name="Blue candle", sku="BC-77")
    assert _names(retailer, query="red CANDLE") == ["Red heart candle holder"]
    assert _names(retailer, query="bc-77") == ["Blue candle"]


def test_a_department_filter_includes_its_categories() -> None:
    retailer = RetailerFactory()
    department = CategoryFactory(name="Kitchen")
    ProductFactory(name="In department", category=department)
    ProductFactory(name="In child", category=CategoryFactory(parent=department))
    ProductFactory(name="Elsewhere")
    assert _names(retailer, category_id=department.pk) == ["In child", "In department"]


def test_it_filters_by_vendor_and_price_range() -> None:
    retailer = RetailerFactory()
    vendor = VendorFactory()
    ProductFactory(name="Cheap", vendor=vendor, unit_price=Decimal("1.00"))
    ProductFactory(name="Middle", vendor=vendor, unit_price=Decimal("5.00"))
    ProductFactory(name="Dear", vendor=vendor, unit_price=Decimal("9.00"))
    ProductFactory(name="Other vendor", unit_price=Decimal("5.00"))
    assert _names(retailer, vendor_id=vendor.pk, min_price=Decimal("2"), max_price=Decimal("9")) == [
        "Dear",
        "Middle",
    ]


def test_bought_filters_count_only_this_retailers_placed_orders() -> None:
    retailer = RetailerFactory()
    bought = ProductFactory(name="Bought")
    only_in_basket = ProductFactory(name="In basket")
    bought_by_other = ProductFactory(name="Bought by another shop")
    OrderLineFactory(order=OrderFactory(retailer=retailer), product=bought)
    OrderLineFactory(order=OrderFactory(retailer=retailer, basket=True), product=only_in_basket)
    OrderLineFactory(order=OrderFactory(), product=bought_by_other)
    assert _names(retailer, bought=Bought.BEFORE) == ["Bought"]
    assert _names(retailer, bought=Bought.NEVER) == ["Bought by another shop", "In basket"]


def test_it_annotates_the_quantity_already_in_the_basket() -> None:
    retailer = RetailerFactory()
    product = ProductFactory()
    OrderLineFactory(order=OrderFactory(retailer=retailer, basket=True), product=product, quantity=4)
    OrderLineFactory(order=OrderFactory(basket=True), product=product, quantity=9)
    [result] = product_search(retailer=retailer, filters=ProductFilters())
    assert result.in_basket == 4


def test_it_sorts_by_price_newest_and_popularity() -> None:
    retailer = RetailerFactory()
    now = timezone.now()
    old = ProductFactory(name="Old", unit_price=Decimal("3.00"), created_at=now - timedelta(days=30))
    popular = ProductFactory(name="Popular", unit_price=Decimal("1.00"), created_at=now - timedelta(days=10))
    ProductFactory(name="New", unit_price=Decimal("2.00"), created_at=now)
    for _ in range(3):
        OrderLineFactory(product=popular)
    OrderLineFactory(product=old)
    OrderLineFactory(product=old, order=OrderFactory(basket=True))
    assert _names(retailer, sort=Sort.PRICE) == ["Popular", "New", "Old"]
    assert _names(retailer, sort=Sort.PRICE_DESC) == ["Old", "New", "Popular"]
    assert _names(retailer, sort=Sort.NEWEST) == ["New", "Popular", "Old"]
    assert _names(retailer, sort=Sort.POPULARITY) == ["Popular", "Old", "New"]


def test_purchase_history_lists_this_retailers_placed_lines_newest_first() -> None:
    retailer = RetailerFactory()
    product = ProductFactory()
    now = timezone.now()
    older = OrderLineFactory(
        order=OrderFactory(retailer=retailer, placed_at=now - timedelta(days=20)), product=product
    )
    newer = OrderLineFactory(
        order=OrderFactory(retailer=retailer, placed_at=now), product=product, quantity=6
    )
    OrderLineFactory(order=OrderFactory(retailer=retailer, basket=True), product=product)
    OrderLineFactory(order=OrderFactory(), product=product)
    assert list(product_purchase_history(retailer=retailer, product=product)) == [newer, older]
