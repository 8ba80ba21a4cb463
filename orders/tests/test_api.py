from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from catalog.tests.factories import ProductFactory
from orders.models import Order, OrderLine
from orders.tests.factories import OrderFactory, OrderLineFactory
from recommendations.tests.factories import ProductAssociationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return UserFactory()


@pytest.fixture
def api(user) -> APIClient:
    client = APIClient()
    token = client.post(
        reverse("api-token"), {"username": user.username, "password": DEFAULT_PASSWORD}, format="json"
    ).json()["access"]
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_a_token_can_be_obtained_and_refreshed(user) -> None:
    client = APIClient()
    tokens = client.post(
        reverse("api-token"), {"username": user.username, "password": DEFAULT_PASSWORD}, format="json"
    ).json()
    refreshed = client.post(reverse("api-token-refresh"), {"refresh": tokens["refresh"]}, format="json")
    assert refreshed.status_code == 200
    assert "access" in refreshed.json()


def test_products_are_searchable(api: APIClient) -> None:
    ProductFactory(name="Jam jar", unit_price=Decimal("2.10"))
    ProductFactory(name="Tea towel")
    ProductFactory(name="Jam spoon", is_active=False)
    data = api.get(reverse("api-products"), {"q": "jam"}).json()
    assert data["count"] == 1
    assert data["results"][0]["name"] == "Jam jar"
    assert data["results"][0]["unit_price"] == "2.10"
    assert data["results"][0]["bought_before"] is False


def test_the_basket_starts_empty_and_lines_can_be_added_and_set(api: APIClient) -> None:
    product = ProductFactory(unit_price=Decimal("1.50"))
    assert api.get(reverse("api-basket")).json() == {
        "id": None,
        "lines": [],
        "line_count": 0,
        "item_count": 0,
        "total": "0.00",
    }
    api.post(reverse("api-basket"), {"product_id": product.pk, "quantity": 2}, format="json")
    data = api.post(reverse("api-basket"), {"product_id": product.pk, "quantity": 1}, format="json").json()
    assert data["lines"][0]["quantity"] == 3
    assert data["total"] == "4.50"
    data = api.post(
        reverse("api-basket"), {"product_id": product.pk, "quantity": 7, "mode": "set"}, format="json"
    ).json()
    assert data["lines"][0]["quantity"] == 7
    data = api.post(
        reverse("api-basket"), {"product_id": product.pk, "quantity": 0, "mode": "set"}, format="json"
    ).json()
    assert data["lines"] == []


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"product_id": None}, "product_id"),
        ({"product_id": 999999, "quantity": 1}, "product_id"),
        ({"product_id": "abc", "quantity": 1}, "product_id"),
        ({"quantity": -1}, "quantity"),
        ({"quantity": 10000}, "quantity"),
        ({"quantity": 0}, "quantity"),
        ({"quantity": 1, "mode": "replace"}, "mode"),
    ],
)
def test_bad_basket_payloads_get_400_with_messages_and_change_nothing(
    api: APIClient, payload: dict, field: str
) -> None:
    product = ProductFactory()
    response = api.post(reverse("api-basket"), {"product_id": product.pk, **payload}, format="json")
    assert response.status_code == 400
    assert response.json()[field]
    assert not OrderLine.objects.exists()


def test_adding_a_discontinued_product_is_a_400(api: APIClient) -> None:
    product = ProductFactory(name="Old lamp", is_active=False)
    response = api.post(reverse("api-basket"), {"product_id": product.pk, "quantity": 1}, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": "Old lamp is no longer available."}
    assert not OrderLine.objects.exists()


def test_placing_the_basket_returns_the_order(api: APIClient, user) -> None:
    basket = OrderFactory(retailer=user.retailer, basket=True)
    OrderLineFactory(
        order=basket,
        quantity=2,
        unit_price=Decimal("1.00"),
        product=ProductFactory(unit_price=Decimal("1.25")),
    )
    response = api.post(reverse("api-basket-place"))
    assert response.status_code == 201
    assert response.json()["status"] == "placed"
    assert response.json()["total"] == "2.50"
    basket.refresh_from_db()
    assert basket.status == Order.Status.PLACED


def test_placing_an_empty_basket_is_a_400(api: APIClient, user) -> None:
    response = api.post(reverse("api-basket-place"))
    assert response.status_code == 400
    assert "basket is empty" in response.json()["detail"]
    OrderFactory(retailer=user.retailer, basket=True)
    assert api.post(reverse("api-basket-place")).status_code == 400


def test_orders_list_only_own_placed_orders_with_totals(api: APIClient, user) -> None:
    mine = OrderFactory(retailer=user.retailer)
    OrderLineFactory(order=mine, quantity=3, unit_price=Decimal("2.00"))
    OrderFactory(retailer=user.retailer, basket=True)
    OrderLineFactory(order=OrderFactory())
    data = api.get(reverse("api-orders")).json()
    assert [(row["id"], row["total"], row["line_count"]) for row in data["results"]] == [(mine.pk, "6.00", 1)]


def test_orders_list_filters_by_placed_date(api: APIClient, user) -> None:
    march = OrderFactory(retailer=user.retailer, placed_at=datetime(2025, 3, 10, 12, tzinfo=UTC))
    OrderFactory(retailer=user.retailer, placed_at=datetime(2025, 5, 1, 12, tzinfo=UTC))
    data = api.get(reverse("api-orders"), {"date_from": "2025-03-10", "date_to": "2025-04-30"}).json()
    assert [row["id"] for row in data["results"]] == [march.pk]


@pytest.mark.parametrize(
    "params", [{"date_from": "10/03/2025"}, {"date_from": "2025-05-01", "date_to": "2025-03-01"}]
)
def test_orders_list_rejects_bad_date_filters_with_400(api: APIClient, params: dict) -> None:
    response = api.get(reverse("api-orders"), params)
    assert response.status_code == 400
    assert set(response.json()) & {"date_from", "date_to"}


def test_order_detail_is_404_for_other_retailers_and_the_basket(api: APIClient, user) -> None:
    mine = OrderFactory(retailer=user.retailer)
    OrderLineFactory(order=mine, product=ProductFactory(name="Jam jar"))
    assert (
        api.get(reverse("api-order-detail", args=[mine.pk])).json()["lines"][0]["product_name"] == "Jam jar"
    )
    assert api.get(reverse("api-order-detail", args=[OrderFactory().pk])).status_code == 404
    basket = OrderFactory(retailer=user.retailer, basket=True)
    assert api.get(reverse("api-order-detail", args=[basket.pk])).status_code == 404


def test_the_basket_never_shows_another_retailers_lines(api: APIClient) -> None:
    OrderLineFactory(order=OrderFactory(basket=True))
    assert api.get(reverse("api-basket")).json()["lines"] == []


def test_suggestions_complete_the_basket(api: APIClient, user) -> None:
    teapot, cups = ProductFactory(name="Teapot"), ProductFactory(name="Tea cups")
    OrderLineFactory(order=OrderFactory(retailer=user.retailer, basket=True), product=teapot)
    ProductAssociationFactory(product=teapot, other=cups)
    results = api.get(reverse("api-basket-suggestions")).json()["results"]
    assert [row["product_name"] for row in results] == ["Tea cups"]
    assert "212" in results[0]["explanation"]
    assert api.get(reverse("api-basket-suggestions"), {"limit": "0"}).status_code == 400


ENDPOINTS = [
    ("get", "api-products"),
    ("get", "api-basket"),
    ("post", "api-basket"),
    ("post", "api-basket-place"),
    ("get", "api-basket-suggestions"),
    ("get", "api-orders"),
]


@pytest.mark.parametrize(("method", "name"), ENDPOINTS)
def test_anonymous_clients_get_401_and_vendors_403(method: str, name: str) -> None:
    client = APIClient()
    assert getattr(client, method)(reverse(name)).status_code == 401
    client.force_authenticate(UserFactory(vendor_member=True))
    assert getattr(client, method)(reverse(name)).status_code == 403
