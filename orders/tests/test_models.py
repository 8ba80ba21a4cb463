from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from accounts.tests.factories import RetailerFactory
from catalog.tests.factories import ProductFactory
from orders.models import Order
from orders.tests.factories import OrderFactory, OrderLineFactory

pytestmark = pytest.mark.django_db


def test_it_rejects_a_second_open_basket_for_the_same_retailer() -> None:
    basket = OrderFactory(basket=True)

    with pytest.raises(IntegrityError), transaction.atomic():
        OrderFactory(basket=True, retailer=basket.retailer)


def test_it_allows_one_open_basket_per_retailer_next_to_placed_orders() -> None:
    retailer = RetailerFactory()
    OrderFactory(retailer=retailer)
    OrderFactory(retailer=retailer)
    OrderFactory(basket=True, retailer=retailer)
    OrderFactory(basket=True)

    assert Order.objects.filter(status=Order.Status.DRAFT).count() == 2


def test_it_rejects_a_placed_order_without_placed_at() -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        OrderFactory(status=Order.Status.PLACED, placed_at=None)


def test_it_rejects_a_cancelled_order_without_placed_at() -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        OrderFactory(status=Order.Status.CANCELLED, placed_at=None)


def test_it_rejects_a_line_with_zero_quantity() -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        OrderLineFactory(quantity=0)


def test_it_rejects_the_same_product_twice_in_one_order() -> None:
    line = OrderLineFactory()

    with pytest.raises(IntegrityError), transaction.atomic():
        OrderLineFactory(order=line.order, product=line.product)


def test_it_rejects_a_negative_line_price() -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        OrderLineFactory(unit_price=Decimal("-0.01"))


def test_it_rejects_a_duplicate_external_ref_from_the_same_source() -> None:
    OrderFactory(source="csv", external_ref="A-1")

    with pytest.raises(IntegrityError), transaction.atomic():
        OrderFactory(source="csv", external_ref="A-1")


def test_it_allows_the_same_external_ref_from_different_sources() -> None:
    OrderFactory(source="csv", external_ref="A-1")
    OrderFactory(source="online-retail", external_ref="A-1")

    assert Order.objects.filter(external_ref="A-1").count() == 2


def test_order_total_sums_quantity_times_line_price() -> None:
    order = OrderFactory()
    OrderLineFactory(order=order, quantity=3, unit_price=Decimal("1.20"))
    OrderLineFactory(order=order, quantity=2, unit_price=Decimal("0.45"), product=ProductFactory())

    assert order.total == Decimal("4.50")


def test_order_total_of_an_empty_order_is_zero() -> None:
    assert OrderFactory().total == Decimal("0.00")
