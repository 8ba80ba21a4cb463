from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from catalog.tests.factories import ProductFactory
from orders.models import Order, OrderLine
from orders.tests.factories import OrderFactory, OrderLineFactory

pytestmark = pytest.mark.django_db


def _signed_in(user: User) -> APIClient:
    client = APIClient()
    response = client.post(
        reverse("api-v1-token"), {"username": user.username, "password": DEFAULT_PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.content
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    return client


@pytest.fixture
def user() -> User:
    return UserFactory()


@pytest.fixture
def api(user: User) -> APIClient:
    return _signed_in(user)


def _add(api: APIClient, product_id: int, quantity: int = 1):
    return api.post(
        reverse("api-v1-basket-items"), {"product_id": product_id, "quantity": quantity}, format="json"
    )


def test_the_basket_starts_empty(api: APIClient) -> None:
    assert api.get(reverse("api-v1-basket")).json() == {
        "id": None,
        "lines": [],
        "line_count": 0,
        "item_count": 0,
        "total": "0.00",
        "has_unavailable": False,
    }


def test_adding_creates_then_merges_the_line_and_answers_the_basket(api: APIClient) -> None:
    product = ProductFactory(unit_price=Decimal("1.50"))
    first = _add(api, product.pk, 2)
    assert first.status_code == 201
    data = _add(api, product.pk, 1).json()
    assert data["line_count"] == 1 and data["item_count"] == 3 and data["total"] == "4.50"
    line = data["lines"][0]
    assert line["product"]["id"] == product.pk
    assert line["product"]["vendor"] == {"id": product.vendor_id, "name": product.vendor.name}
    assert (line["quantity"], line["unit_price"], line["line_total"], line["available"]) == (
        3,
        "1.50",
        "4.50",
        True,
    )


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"product_id": None, "quantity": 1}, "product_id"),
        ({"product_id": 999999, "quantity": 1}, "product_id"),
        ({"product_id": "abc", "quantity": 1}, "product_id"),
        ({"quantity": 0}, "quantity"),
        ({"quantity": 10000}, "quantity"),
    ],
)
def test_bad_additions_are_400s_with_field_messages_and_change_nothing(
    api: APIClient, payload: dict, field: str
) -> None:
    product = ProductFactory()
    response = api.post(reverse("api-v1-basket-items"), {"product_id": product.pk, **payload}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"][field]
    assert not OrderLine.objects.exists()


def test_adding_a_discontinued_product_is_a_field_error(api: APIClient) -> None:
    product = ProductFactory(name="Old lamp", is_active=False)
    response = _add(api, product.pk)
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"product_id": ["Old lamp is no longer available."]}


def test_a_line_can_be_set_removed_by_zero_and_deleted(api: APIClient) -> None:
    kept, dropped, deleted = ProductFactory(), ProductFactory(), ProductFactory()
    for product in (kept, dropped, deleted):
        _add(api, product.pk)
    url = lambda product: reverse("api-v1-basket-item", args=[product.pk])  # noqa: E731
    data = api.put(url(kept), {"quantity": 7}, format="json").json()
    assert [line["quantity"] for line in data["lines"]] == [7, 1, 1]
    data = api.put(url(dropped), {"quantity": 0}, format="json").json()
    assert [line["product"]["id"] for line in data["lines"]] == [kept.pk, deleted.pk]
    response = api.delete(url(deleted))
    assert response.status_code == 200
    assert [line["product"]["id"] for line in response.json()["lines"]] == [kept.pk]
    assert api.put(url(kept), {"quantity": -1}, format="json").json()["error"]["fields"]["quantity"]


def test_a_product_not_in_the_basket_is_a_404(api: APIClient, user: User) -> None:
    other_basket = OrderFactory(basket=True)
    foreign = OrderLineFactory(order=other_basket).product
    for client_call in (
        lambda: api.put(reverse("api-v1-basket-item", args=[foreign.pk]), {"quantity": 2}, format="json"),
        lambda: api.delete(reverse("api-v1-basket-item", args=[foreign.pk])),
    ):
        response = client_call()
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert OrderLine.objects.get(order=other_basket).quantity == 1


def test_clearing_empties_the_basket(api: APIClient, user: User) -> None:
    basket = OrderFactory(retailer=user.retailer, basket=True)
    OrderLineFactory.create_batch(2, order=basket)
    response = api.delete(reverse("api-v1-basket"))
    assert response.status_code == 200
    assert (response.json()["id"], response.json()["lines"]) == (basket.pk, [])
    assert api.get(reverse("api-v1-basket")).json()["lines"] == []


def test_placing_the_basket_answers_the_order_at_todays_prices(api: APIClient, user: User) -> None:
    basket = OrderFactory(retailer=user.retailer, basket=True)
    OrderLineFactory(
        order=basket,
        quantity=2,
        unit_price=Decimal("1.00"),
        product=ProductFactory(unit_price=Decimal("1.25")),
    )
    response = api.post(reverse("api-v1-basket-place"))
    assert response.status_code == 201
    data = response.json()
    assert (data["id"], data["status"], data["total"], data["line_count"]) == (basket.pk, "placed", "2.50", 1)
    assert data["lines"][0]["unit_price"] == "1.25"
    basket.refresh_from_db()
    assert basket.status == Order.Status.PLACED


def test_placing_an_empty_basket_is_a_400_in_the_error_shape(api: APIClient) -> None:
    response = api.post(reverse("api-v1-basket-place"))
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "validation_error",
        "message": "Your basket is empty: add products before placing the order.",
        "fields": {},
    }


def test_placing_a_basket_with_a_discontinued_product_is_a_400(api: APIClient, user: User) -> None:
    basket = OrderFactory(retailer=user.retailer, basket=True)
    OrderLineFactory(order=basket, product=ProductFactory(name="Old lamp", is_active=False))
    response = api.post(reverse("api-v1-basket-place"))
    assert response.status_code == 400
    assert "Old lamp" in response.json()["error"]["message"]
    assert api.get(reverse("api-v1-basket")).json()["lines"][0]["available"] is False


def test_orders_are_listed_newest_first_with_totals_and_filters(api: APIClient, user: User) -> None:
    old = OrderFactory(retailer=user.retailer, placed_at=datetime(2026, 1, 5, 10, tzinfo=UTC))
    OrderLineFactory(order=old, quantity=2, unit_price=Decimal("3.00"), product__name="Oat milk")
    new = OrderFactory(retailer=user.retailer, placed_at=datetime(2026, 3, 1, 10, tzinfo=UTC), cancelled=True)
    OrderLineFactory(order=new, product__name="Rye bread")
    OrderFactory(retailer=user.retailer, basket=True)
    OrderFactory()  # another retailer's

    def listed(**params: str) -> list[int]:
        response = api.get(reverse("api-v1-orders"), params)
        assert response.status_code == 200, response.content
        return [order["id"] for order in response.json()["results"]]

    first = api.get(reverse("api-v1-orders")).json()["results"][1]
    assert first == {
        "id": old.pk,
        "number": 1,
        "status": "placed",
        "placed_at": "2026-01-05T10:00:00Z",
        "total": "6.00",
        "line_count": 1,
    }
    assert listed() == [new.pk, old.pk]
    assert listed(q="oat") == [old.pk]
    assert listed(q=f"#{new.number}") == [new.pk]
    assert listed(date_from="2026-02-01") == [new.pk]
    assert listed(date_to="2026-01-05") == [old.pk]
    assert listed(status="placed") == [old.pk]


@pytest.mark.parametrize(
    "params",
    [
        {"date_from": "yesterday"},
        {"date_from": "2026-02-01", "date_to": "2026-01-01"},
        {"status": "draft"},
        {"page": "0"},
    ],
)
def test_invalid_order_filters_are_400s(api: APIClient, params: dict) -> None:
    response = api.get(reverse("api-v1-orders"), params)
    assert response.status_code == 400
    assert response.json()["error"]["fields"]


def test_the_order_list_costs_a_constant_number_of_queries(
    api: APIClient, user: User, django_assert_max_num_queries
) -> None:
    for _ in range(15):
        OrderLineFactory.create_batch(3, order=OrderFactory(retailer=user.retailer))
    with django_assert_max_num_queries(3):
        response = api.get(reverse("api-v1-orders"), {"page_size": 15})
    assert len(response.json()["results"]) == 15


def test_an_order_detail_has_its_lines_in_the_basket_line_shape(api: APIClient, user: User) -> None:
    order = OrderFactory(retailer=user.retailer)
    line = OrderLineFactory(order=order, quantity=3, unit_price=Decimal("2.00"))
    data = api.get(reverse("api-v1-order-detail", args=[order.pk])).json()
    assert data["total"] == "6.00"
    assert data["lines"] == [
        {
            "product": api.get(reverse("api-v1-products")).json()["results"][0],
            "quantity": 3,
            "unit_price": "2.00",
            "line_total": "6.00",
            "available": True,
        }
    ]
    assert data["lines"][0]["product"]["id"] == line.product_id


def test_order_again_adds_the_lines_and_reports_discontinued_products(api: APIClient, user: User) -> None:
    order = OrderFactory(retailer=user.retailer)
    active = OrderLineFactory(order=order, quantity=2).product
    gone = OrderLineFactory(order=order, product=ProductFactory(is_active=False)).product
    response = api.post(reverse("api-v1-order-reorder", args=[order.pk]))
    assert response.status_code == 200
    data = response.json()
    assert [product["id"] for product in data["added"]] == [active.pk]
    assert [(skip["product"]["id"], skip["reason"]) for skip in data["skipped"]] == [
        (gone.pk, "discontinued")
    ]
    assert [(line["product"]["id"], line["quantity"]) for line in data["basket"]["lines"]] == [(active.pk, 2)]


def test_another_retailers_order_is_a_404_and_is_left_alone(api: APIClient) -> None:
    foreign = OrderFactory()
    OrderLineFactory(order=foreign)
    assert api.get(reverse("api-v1-order-detail", args=[foreign.pk])).status_code == 404
    response = api.post(reverse("api-v1-order-reorder", args=[foreign.pk]))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert not Order.objects.filter(status=Order.Status.DRAFT).exists()


@pytest.mark.parametrize(
    ("method", "name", "args"),
    [
        ("get", "api-v1-basket", []),
        ("delete", "api-v1-basket", []),
        ("post", "api-v1-basket-items", []),
        ("put", "api-v1-basket-item", [1]),
        ("delete", "api-v1-basket-item", [1]),
        ("post", "api-v1-basket-place", []),
        ("get", "api-v1-orders", []),
        ("get", "api-v1-order-detail", [1]),
        ("post", "api-v1-order-reorder", [1]),
    ],
)
def test_basket_and_orders_are_for_retailer_members_only(method: str, name: str, args: list) -> None:
    url = reverse(name, args=args)
    anonymous = getattr(APIClient(), method)(url, {}, format="json")
    assert anonymous.status_code == 401
    vendor_member = getattr(_signed_in(UserFactory(vendor_member=True)), method)(url, {}, format="json")
    assert vendor_member.status_code == 403
    assert vendor_member.json()["error"]["code"] == "permission_denied"
