from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.template import RequestContext, Template
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import UserFactory
from catalog.tests.factories import ProductFactory
from orders.models import Order, OrderLine
from orders.tests.factories import OrderFactory, OrderLineFactory
from recommendations.models import RecommendationEvent
from recommendations.tests.factories import ProductAssociationFactory, RecommendationEventFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def user():
    return UserFactory()


@pytest.fixture
def shop(client: Client, user) -> Client:
    client.force_login(user)
    return client


@pytest.fixture
def basket(user) -> Order:
    return OrderFactory(retailer=user.retailer, basket=True)


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_the_basket_page_shows_lines_total_and_a_confirmed_place_button(shop: Client, basket: Order) -> None:
    OrderLineFactory(
        order=basket, product=ProductFactory(name="Jam jar"), quantity=3, unit_price=Decimal("2.50")
    )
    body = shop.get(reverse("orders:basket")).content.decode()
    assert "Jam jar" in body
    assert "Total £7.50" in body
    assert 'hx-confirm="Place this order for £7.50?"' in body
    assert 'method="get" action="/basket/place/"' in body
    assert 'hx-trigger="load, basket-changed from:body"' in body


def test_an_htmx_basket_request_returns_only_the_basket_partial(shop: Client, basket: Order) -> None:
    OrderLineFactory(order=basket)
    body = shop.get(reverse("orders:basket"), **HTMX).content.decode()
    assert body.lstrip().startswith('<section id="basket"')
    assert "<html" not in body


def test_adding_without_javascript_redirects_back_with_a_message(shop: Client) -> None:
    product = ProductFactory(name="Jam jar")
    response = shop.post(
        reverse("orders:basket_add"), {"product": product.pk, "quantity": "2", "next": "/catalogue/?q=jam"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/catalogue/?q=jam"
    assert _messages(response) == ["Added Jam jar to your basket (2 in basket)."]
    assert OrderLine.objects.get().quantity == 2


def test_adding_ignores_a_next_url_on_another_site(shop: Client) -> None:
    response = shop.post(
        reverse("orders:basket_add"),
        {"product": ProductFactory().pk, "quantity": "1", "next": "https://evil.example/"},
    )
    assert response["Location"] == reverse("orders:basket")


def test_adding_from_a_card_returns_a_status_and_the_nav_count_out_of_band(shop: Client) -> None:
    product = ProductFactory()
    response = shop.post(reverse("orders:basket_add"), {"product": product.pk, "quantity": "4"}, **HTMX)
    body = response.content.decode()
    assert "4 in basket" in body
    assert '<span id="nav-basket-count"' in body
    assert 'hx-swap-oob="true">1</span>' in body
    assert response["HX-Trigger"] == '{"basket-changed": {}}'


def test_adding_on_the_basket_page_returns_the_basket_partial(shop: Client, basket: Order) -> None:
    product = ProductFactory(name="Tea cosy")
    response = shop.post(
        reverse("orders:basket_add"),
        {"product": product.pk, "quantity": "1"},
        HTTP_HX_TARGET="basket",
        **HTMX,
    )
    body = response.content.decode()
    assert '<section id="basket"' in body
    assert "Tea cosy" in body
    assert "basket-changed" in response["HX-Trigger"]


def test_adding_records_a_tracked_add_event(shop: Client, user) -> None:
    product = ProductFactory()
    shown = RecommendationEventFactory(retailer=user.retailer, product=product, surface="basket")
    shop.post(
        reverse("orders:basket_add"),
        {"product": product.pk, "quantity": "1", "src": "basket", "mv": shown.model_version_id},
        **HTMX,
    )
    event = RecommendationEvent.objects.get(kind="add")
    assert (event.retailer, event.product, event.surface, event.kind) == (
        user.retailer,
        product,
        "basket",
        "add",
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"product": "", "quantity": "1"}, "Product: This field is required."),
        ({"product": "999999", "quantity": "1"}, "Product: Select a valid choice."),
        ({"quantity": "0"}, "Quantity: Ensure this value is greater than or equal to 1."),
        ({"quantity": "lots"}, "Quantity: Enter a whole number."),
    ],
)
def test_bad_add_requests_explain_themselves_and_change_nothing(
    shop: Client, data: dict, message: str
) -> None:
    data = {"product": ProductFactory().pk, **data}
    response = shop.post(reverse("orders:basket_add"), data, **HTMX)
    assert message in response.content.decode()
    assert not OrderLine.objects.exists()


def test_adding_a_discontinued_product_says_so(shop: Client) -> None:
    product = ProductFactory(name="Old lamp", is_active=False)
    response = shop.post(reverse("orders:basket_add"), {"product": product.pk, "quantity": "1"})
    assert _messages(response) == ["Old lamp is no longer available."]
    assert not OrderLine.objects.exists()


def test_changing_a_quantity_inline_updates_the_line(shop: Client, basket: Order) -> None:
    line = OrderLineFactory(order=basket, quantity=1, unit_price=Decimal("2.00"))
    response = shop.post(reverse("orders:basket_line_update", args=[line.pk]), {"quantity": "5"}, **HTMX)
    line.refresh_from_db()
    assert line.quantity == 5
    assert "Total £10.00" in response.content.decode()
    assert "basket-changed" in response["HX-Trigger"]


def test_a_zero_quantity_removes_the_line(shop: Client, basket: Order) -> None:
    line = OrderLineFactory(order=basket)
    response = shop.post(reverse("orders:basket_line_update", args=[line.pk]), {"quantity": "0"})
    assert response.status_code == 302
    assert not OrderLine.objects.exists()


def test_removing_a_line_inline_updates_basket_and_nav_count(shop: Client, basket: Order) -> None:
    line = OrderLineFactory(order=basket)
    OrderLineFactory(order=basket)
    response = shop.post(reverse("orders:basket_line_remove", args=[line.pk]), **HTMX)
    assert not OrderLine.objects.filter(pk=line.pk).exists()
    assert 'hx-swap-oob="true">1</span>' in response.content.decode()


@pytest.mark.parametrize("name", ["orders:basket_line_update", "orders:basket_line_remove"])
def test_another_retailers_basket_line_is_404_and_untouched(shop: Client, name: str) -> None:
    foreign = OrderLineFactory(order=OrderFactory(basket=True), quantity=3)
    for headers in ({}, HTMX):
        assert shop.post(reverse(name, args=[foreign.pk]), {"quantity": "1"}, **headers).status_code == 404
    foreign.refresh_from_db()
    assert foreign.quantity == 3


def test_a_placed_orders_line_cannot_be_edited_as_a_basket_line(shop: Client, user) -> None:
    line = OrderLineFactory(order=OrderFactory(retailer=user.retailer), quantity=3)
    assert (
        shop.post(reverse("orders:basket_line_update", args=[line.pk]), {"quantity": "1"}).status_code == 404
    )


def test_suggestions_say_so_when_there_is_no_model(shop: Client, basket: Order) -> None:
    OrderLineFactory(order=basket)
    response = shop.get(reverse("orders:basket_suggestions"), **HTMX)
    body = response.content.decode()
    assert "No suggestions for this basket yet." in body
    assert 'hx-trigger="basket-changed from:body"' in body


def test_suggestions_complete_the_basket_with_reasons_and_one_click_add(
    shop: Client, basket: Order, user
) -> None:
    teapot, cups = ProductFactory(name="Teapot"), ProductFactory(name="Tea cups")
    OrderLineFactory(order=basket, product=teapot)
    ProductAssociationFactory(product=teapot, other=cups, explanation="unused here")
    body = shop.get(reverse("orders:basket_suggestions"), **HTMX).content.decode()
    assert "Tea cups" in body
    assert "212" in body
    assert f'name="product" value="{cups.pk}"' in body
    assert RecommendationEvent.objects.filter(surface="basket", kind="impression", product=cups).count() == 1
    # Without JavaScript the same URL shows the whole basket page with the suggestions inline.
    assert "<html" in shop.get(reverse("orders:basket_suggestions")).content.decode()


def test_the_basket_page_query_count_does_not_grow_with_lines(
    shop: Client, basket: Order, django_assert_max_num_queries
) -> None:
    for _ in range(40):
        OrderLineFactory(order=basket)
    with django_assert_max_num_queries(8):
        response = shop.get(reverse("orders:basket"))
    assert response.content.decode().count('class="shop-qty-form"') == 40


def test_placing_asks_for_confirmation_first(shop: Client, basket: Order) -> None:
    OrderLineFactory(order=basket, product=ProductFactory(name="Jam jar"))
    response = shop.get(reverse("orders:place"))
    assert "Place this order?" in response.content.decode()
    basket.refresh_from_db()
    assert basket.status == Order.Status.DRAFT


def test_placing_the_order_redirects_to_it(shop: Client, basket: Order) -> None:
    OrderLineFactory(order=basket)
    response = shop.post(reverse("orders:place"))
    assert response["Location"] == reverse("orders:detail", args=[basket.pk])
    basket.refresh_from_db()
    assert basket.status == Order.Status.PLACED


def test_placing_with_htmx_redirects_the_browser(shop: Client, basket: Order) -> None:
    OrderLineFactory(order=basket)
    response = shop.post(reverse("orders:place"), **HTMX)
    assert response["HX-Redirect"] == reverse("orders:detail", args=[basket.pk])


def test_placing_an_empty_basket_explains_why(shop: Client) -> None:
    response = shop.post(reverse("orders:place"))
    assert response["Location"] == reverse("orders:basket")
    assert _messages(response) == ["Your basket is empty: add products before placing the order."]
    htmx = shop.post(reverse("orders:place"), **HTMX).content.decode()
    assert "Your basket is empty: add products" in htmx


def test_placing_with_a_discontinued_product_keeps_the_basket(shop: Client, basket: Order) -> None:
    OrderLineFactory(order=basket, product=ProductFactory(name="Old lamp", is_active=False))
    response = shop.post(reverse("orders:place"), **HTMX)
    assert "Old lamp" in response.content.decode()
    basket.refresh_from_db()
    assert basket.status == Order.Status.DRAFT


def test_the_order_list_shows_only_own_orders_with_totals(shop: Client, user) -> None:
    mine = OrderFactory(retailer=user.retailer)
    OrderLineFactory(order=mine, quantity=2, unit_price=Decimal("3.25"))
    OrderLineFactory(order=mine, quantity=1, unit_price=Decimal("1.00"))
    theirs = OrderFactory()
    OrderLineFactory(order=theirs, quantity=1, unit_price=Decimal("777.00"))
    OrderFactory(retailer=user.retailer, basket=True)
    body = shop.get(reverse("orders:list")).content.decode()
    assert f'href="{reverse("orders:detail", args=[mine.pk])}">#{mine.number}<' in body
    assert "£7.50" in body
    assert reverse("orders:detail", args=[theirs.pk]) not in body
    assert "777" not in body


@pytest.mark.parametrize("rows", [10, 25])
def test_the_order_list_shows_as_many_orders_as_the_rows_per_page_setting(
    shop: Client, user, rows: int
) -> None:
    user.items_per_page = rows
    user.save(update_fields=["items_per_page"])
    for _ in range(rows + 2):
        OrderLineFactory(order=OrderFactory(retailer=user.retailer))

    first = shop.get(reverse("orders:list")).content.decode()
    last = shop.get(reverse("orders:list"), {"page": "2"}, **HTMX).content.decode()

    assert first.count('<td class="shop-order-number"><a href="/orders/') == rows
    assert f"Page 1 of 2 · {rows + 2} orders" in first
    assert last.count('<td class="shop-order-number"><a href="/orders/') == 2


def test_the_order_list_filters_by_search_and_dates(shop: Client, user) -> None:
    now = timezone.now()
    old = OrderFactory(retailer=user.retailer, placed_at=now - timedelta(days=40))
    OrderLineFactory(order=old, product=ProductFactory(name="Candle holder"))
    recent = OrderFactory(retailer=user.retailer, placed_at=now)
    OrderLineFactory(order=recent, product=ProductFactory(name="Tea towel"))

    def listed(**params) -> set[int]:
        body = shop.get(reverse("orders:list"), params, **HTMX).content.decode()
        return {order.pk for order in (old, recent) if f"#{order.number}<" in body}

    assert listed(q="candle") == {old.pk}
    assert listed(q=f"#{recent.number}") == {recent.pk}
    assert listed(q=str(old.number)) == {old.pk}
    # The id is internal: searching for it finds nothing unless it happens to be a number too.
    assert listed(q=f"#{recent.pk + 100}") == set()
    assert listed(date_from=(now - timedelta(days=7)).date().isoformat()) == {recent.pk}
    assert listed(date_to=(now - timedelta(days=30)).date().isoformat()) == {old.pk}
    assert listed(date_from="not a date") == {old.pk, recent.pk}


def test_the_order_list_query_count_does_not_grow_with_orders(
    shop: Client, user, django_assert_max_num_queries
) -> None:
    for _ in range(20):
        OrderLineFactory(order=OrderFactory(retailer=user.retailer))
    with django_assert_max_num_queries(6):
        shop.get(reverse("orders:list"))


def test_the_order_detail_shows_lines_and_total(shop: Client, user) -> None:
    order = OrderFactory(retailer=user.retailer)
    OrderLineFactory(
        order=order, product=ProductFactory(name="Jam jar"), quantity=4, unit_price=Decimal("1.25")
    )
    body = shop.get(reverse("orders:detail", args=[order.pk])).content.decode()
    assert "Jam jar" in body
    assert "£5.00" in body


def test_another_retailers_order_and_the_own_basket_are_404_as_orders(shop: Client, basket: Order) -> None:
    foreign = OrderFactory()
    assert shop.get(reverse("orders:detail", args=[foreign.pk])).status_code == 404
    assert shop.get(reverse("orders:detail", args=[basket.pk])).status_code == 404
    assert shop.post(reverse("orders:reorder", args=[foreign.pk])).status_code == 404
    assert not OrderLine.objects.filter(order=basket).exists()


def test_ordering_again_fills_the_basket_and_reports_skipped_products(shop: Client, user) -> None:
    order = OrderFactory(retailer=user.retailer)
    OrderLineFactory(order=order, product=ProductFactory(name="Jam jar"), quantity=2)
    OrderLineFactory(order=order, product=ProductFactory(name="Old lamp", is_active=False))
    response = shop.post(reverse("orders:reorder", args=[order.pk]))
    assert response["Location"] == reverse("orders:basket")
    assert _messages(response) == [
        f"Added 1 product from order #{order.number} to your basket.",
        "Skipped, no longer available: Old lamp.",
    ]
    basket = Order.objects.get(retailer=user.retailer, status=Order.Status.DRAFT)
    assert [(line.product.name, line.quantity) for line in basket.lines.all()] == [("Jam jar", 2)]


PAGES = [
    ("get", "orders:basket", False),
    ("get", "orders:basket_suggestions", False),
    ("get", "orders:place", False),
    ("post", "orders:place", False),
    ("post", "orders:basket_add", False),
    ("post", "orders:basket_line_update", True),
    ("post", "orders:basket_line_remove", True),
    ("get", "orders:list", False),
    ("get", "orders:detail", True),
    ("post", "orders:reorder", True),
]


@pytest.mark.parametrize(("method", "name", "needs_id"), PAGES)
def test_vendors_are_forbidden_and_anonymous_users_sent_to_login(
    client: Client, method: str, name: str, needs_id: bool
) -> None:
    url = reverse(name, args=[1] if needs_id else [])
    anonymous = getattr(client, method)(url)
    assert anonymous.status_code == 302
    assert reverse("accounts:login") in anonymous["Location"]
    client.force_login(UserFactory(vendor_member=True))
    assert getattr(client, method)(url).status_code == 403


def test_the_nav_basket_count_shows_the_number_of_products(rf, user, basket: Order) -> None:
    OrderLineFactory.create_batch(3, order=basket)
    request = rf.get("/")
    request.user = user
    html = Template("{% load basket_tags %}{% nav_basket_count %}").render(RequestContext(request))
    assert 'id="nav-basket-count"' in html
    assert ">3</span>" in html
