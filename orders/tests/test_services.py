from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from accounts.tests.factories import RetailerFactory
from catalog.tests.factories import ProductFactory
from orders.models import Order, OrderLine
from orders.services import (
    MAX_LINE_QUANTITY,
    basket_add_product,
    basket_get_or_create,
    basket_remove_line,
    basket_set_product_quantity,
    basket_set_quantity,
    order_place,
    order_reorder,
)
from orders.tests.factories import OrderFactory, OrderLineFactory

pytestmark = pytest.mark.django_db


def test_basket_get_or_create_returns_the_one_open_basket() -> None:
    retailer = RetailerFactory()
    first = basket_get_or_create(retailer=retailer)
    assert first.status == Order.Status.DRAFT
    assert basket_get_or_create(retailer=retailer) == first
    assert basket_get_or_create(retailer=RetailerFactory()) != first


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_create_a_single_basket() -> None:
    retailer = RetailerFactory()

    def create() -> int:
        try:
            return basket_get_or_create(retailer=retailer).pk
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=4) as pool:
        ids = set(pool.map(lambda _: create(), range(8)))
    assert len(ids) == 1
    assert Order.objects.filter(retailer=retailer, status=Order.Status.DRAFT).count() == 1


def test_adding_a_product_creates_a_line_at_the_current_price() -> None:
    retailer = RetailerFactory()
    product = ProductFactory(unit_price=Decimal("3.40"))
    line = basket_add_product(retailer=retailer, product=product, quantity=2)
    assert (line.quantity, line.unit_price, line.order.retailer) == (2, Decimal("3.40"), retailer)


def test_adding_the_same_product_again_merges_into_one_line() -> None:
    retailer = RetailerFactory()
    product = ProductFactory()
    basket_add_product(retailer=retailer, product=product, quantity=2)
    line = basket_add_product(retailer=retailer, product=product, quantity=3)
    assert line.quantity == 5
    assert OrderLine.objects.filter(order__retailer=retailer).count() == 1


@pytest.mark.parametrize("quantity", [0, -1, MAX_LINE_QUANTITY + 1])
def test_adding_rejects_a_quantity_out_of_range(quantity: int) -> None:
    retailer = RetailerFactory()
    with pytest.raises(ValidationError, match="Quantity must be between"):
        basket_add_product(retailer=retailer, product=ProductFactory(), quantity=quantity)
    assert not OrderLine.objects.exists()


def test_adding_rejects_a_merge_beyond_the_maximum_and_keeps_the_line() -> None:
    retailer = RetailerFactory()
    product = ProductFactory()
    basket_add_product(retailer=retailer, product=product, quantity=MAX_LINE_QUANTITY)
    with pytest.raises(ValidationError):
        basket_add_product(retailer=retailer, product=product, quantity=1)
    assert OrderLine.objects.get().quantity == MAX_LINE_QUANTITY


def test_adding_rejects_a_discontinued_product() -> None:
    with pytest.raises(ValidationError, match="no longer available"):
        basket_add_product(retailer=RetailerFactory(), product=ProductFactory(is_active=False))
    assert not OrderLine.objects.exists()


def test_setting_a_quantity_updates_the_line_and_zero_removes_it() -> None:
    line = OrderLineFactory(order=OrderFactory(basket=True), quantity=1)
    assert basket_set_quantity(line=line, quantity=7).quantity == 7
    line.refresh_from_db()
    assert line.quantity == 7
    assert basket_set_quantity(line=line, quantity=0) is None
    assert not OrderLine.objects.exists()


def test_setting_a_negative_quantity_is_rejected() -> None:
    line = OrderLineFactory(order=OrderFactory(basket=True), quantity=2)
    with pytest.raises(ValidationError):
        basket_set_quantity(line=line, quantity=-3)
    line.refresh_from_db()
    assert line.quantity == 2


def test_lines_of_a_placed_order_cannot_be_changed() -> None:
    line = OrderLineFactory(order=OrderFactory(), quantity=2)
    with pytest.raises(ValidationError, match="already been placed"):
        basket_set_quantity(line=line, quantity=5)
    with pytest.raises(ValidationError, match="already been placed"):
        basket_remove_line(line=line)
    line.refresh_from_db()
    assert line.quantity == 2


def test_setting_a_products_quantity_creates_updates_and_removes_its_line() -> None:
    retailer = RetailerFactory()
    product = ProductFactory()
    assert basket_set_product_quantity(retailer=retailer, product=product, quantity=0) is None
    assert basket_set_product_quantity(retailer=retailer, product=product, quantity=4).quantity == 4
    assert basket_set_product_quantity(retailer=retailer, product=product, quantity=9).quantity == 9
    basket_set_product_quantity(retailer=retailer, product=product, quantity=0)
    assert not OrderLine.objects.exists()


def test_removing_a_line_deletes_only_that_line() -> None:
    basket = OrderFactory(basket=True)
    line, other = OrderLineFactory(order=basket), OrderLineFactory(order=basket)
    basket_remove_line(line=line)
    assert list(basket.lines.all()) == [other]


def test_placing_an_order_refreshes_prices_and_enqueues_a_recommendation_refresh(
    django_capture_on_commit_callbacks,
) -> None:
    product = ProductFactory(unit_price=Decimal("2.00"))
    basket = OrderFactory(basket=True)
    OrderLineFactory(order=basket, product=product, quantity=3, unit_price=Decimal("1.50"))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        order = order_place(order=basket)
    order.refresh_from_db()
    assert order.status == Order.Status.PLACED
    assert order.placed_at is not None
    assert order.lines.get().unit_price == Decimal("2.00")
    assert len(callbacks) == 1


def test_placing_an_empty_basket_is_rejected() -> None:
    basket = OrderFactory(basket=True)
    with pytest.raises(ValidationError, match="basket is empty"):
        order_place(order=basket)
    basket.refresh_from_db()
    assert basket.status == Order.Status.DRAFT


def test_placing_with_a_discontinued_product_names_it_and_changes_nothing() -> None:
    basket = OrderFactory(basket=True)
    line = OrderLineFactory(order=basket, product=ProductFactory(name="Old lamp"), unit_price=Decimal("1.00"))
    line.product.unit_price = Decimal("9.00")
    line.product.is_active = False
    line.product.save()
    with pytest.raises(ValidationError) as error:
        order_place(order=basket)
    assert "Old lamp" in error.value.messages[0]
    basket.refresh_from_db()
    line.refresh_from_db()
    assert (basket.status, basket.placed_at, line.unit_price) == (Order.Status.DRAFT, None, Decimal("1.00"))


def test_placing_an_order_twice_is_rejected() -> None:
    order = OrderFactory()
    OrderLineFactory(order=order)
    with pytest.raises(ValidationError, match="already been placed"):
        order_place(order=order)


def test_after_placing_a_new_basket_can_be_started() -> None:
    retailer = RetailerFactory()
    line = basket_add_product(retailer=retailer, product=ProductFactory())
    order_place(order=line.order)
    assert basket_get_or_create(retailer=retailer).pk != line.order_id


def test_reordering_copies_lines_at_current_prices_and_merges_with_the_basket() -> None:
    retailer = RetailerFactory()
    mug, jar = ProductFactory(unit_price=Decimal("4.00")), ProductFactory()
    past = OrderFactory(retailer=retailer)
    OrderLineFactory(order=past, product=mug, quantity=2, unit_price=Decimal("3.00"))
    OrderLineFactory(order=past, product=jar, quantity=5)
    basket_add_product(retailer=retailer, product=jar, quantity=1)
    result = order_reorder(retailer=retailer, order=past)
    assert result.added == [mug, jar]
    assert result.skipped == []
    basket = Order.objects.get(retailer=retailer, status=Order.Status.DRAFT)
    quantities = {line.product_id: (line.quantity, line.unit_price) for line in basket.lines.all()}
    assert quantities == {mug.pk: (2, Decimal("4.00")), jar.pk: (6, jar.unit_price)}


def test_reordering_skips_discontinued_products() -> None:
    retailer = RetailerFactory()
    past = OrderFactory(retailer=retailer)
    gone = OrderLineFactory(order=past, product=ProductFactory(is_active=False)).product
    kept = OrderLineFactory(order=past).product
    result = order_reorder(retailer=retailer, order=past)
    assert result.skipped == [gone]
    assert result.added == [kept]
    assert list(
        OrderLine.objects.filter(order__status=Order.Status.DRAFT).values_list("product", flat=True)
    ) == [kept.pk]
