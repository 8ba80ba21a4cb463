from decimal import Decimal

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from catalog.tests.factories import CategoryFactory, ProductFactory
from orders.tests.factories import OrderLineFactory
from vendors.tests.factories import VendorFactory

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


def test_search_finds_active_products_by_name_in_the_one_product_shape(api: APIClient) -> None:
    vendor = VendorFactory(name="Brightwell")
    category = CategoryFactory(name="Preserves")
    product = ProductFactory(name="Jam jar", unit_price=Decimal("2.10"), vendor=vendor, category=category)
    ProductFactory(name="Tea towel")
    ProductFactory(name="Jam spoon", is_active=False)
    data = api.get(reverse("api-v1-products"), {"q": "jam"}).json()
    assert data["count"] == 1
    assert data["results"] == [
        {
            "id": product.pk,
            "sku": product.sku,
            "name": "Jam jar",
            "description": "",
            "vendor": {"id": vendor.pk, "name": "Brightwell"},
            "category": {"id": category.pk, "name": "Preserves"},
            "unit_price": "2.10",
            "pack_size": 1,
            "is_active": True,
        }
    ]


def test_filters_and_sort_narrow_and_order_the_results(api: APIClient, user: User) -> None:
    department = CategoryFactory()
    shelf = CategoryFactory(parent=department)
    vendor = VendorFactory()
    cheap = ProductFactory(name="B cheap", category=shelf, vendor=vendor, unit_price=Decimal("1.00"))
    ProductFactory(name="A dear", category=department, vendor=vendor, unit_price=Decimal("9.00"))
    ProductFactory(name="C elsewhere", unit_price=Decimal("5.00"))
    OrderLineFactory(order__retailer=user.retailer, product=cheap)

    def names(**params: str) -> list[str]:
        response = api.get(reverse("api-v1-products"), params)
        assert response.status_code == 200, response.content
        return [product["name"] for product in response.json()["results"]]

    assert names(category=str(department.pk)) == ["A dear", "B cheap"]
    assert names(vendor=str(vendor.pk), sort="-price") == ["A dear", "B cheap"]
    assert names(min_price="2", max_price="6") == ["C elsewhere"]
    assert names(bought="before") == ["B cheap"]
    assert names(bought="never", sort="price") == ["C elsewhere", "A dear"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"min_price": "abc"}, "min_price"),
        ({"max_price": "-1"}, "max_price"),
        ({"min_price": "5", "max_price": "2"}, "max_price"),
        ({"sort": "cheapest"}, "sort"),
        ({"bought": "sometimes"}, "bought"),
        ({"category": "999999"}, "category"),
        ({"vendor": "abc"}, "vendor"),
        ({"q": "x" * 101}, "q"),
        ({"page_size": "1000"}, "page_size"),
    ],
)
def test_an_invalid_filter_is_a_400_naming_the_field(api: APIClient, params: dict, field: str) -> None:
    response = api.get(reverse("api-v1-products"), params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["fields"][field]


def test_pages_follow_page_and_page_size(api: APIClient) -> None:
    for index in range(5):
        ProductFactory(name=f"Item {index}")
    data = api.get(reverse("api-v1-products"), {"page_size": 2, "page": 3}).json()
    assert data["count"] == 5
    assert [product["name"] for product in data["results"]] == ["Item 4"]
    assert data["next"] is None and data["previous"]


def test_a_page_of_products_costs_a_constant_number_of_queries(
    api: APIClient, django_assert_max_num_queries
) -> None:
    for _ in range(30):
        ProductFactory(vendor=VendorFactory(), category=CategoryFactory(child=True))
    # Authentication (the user with its retailer), the count and the page; the vendor and category joined.
    with django_assert_max_num_queries(3):
        response = api.get(reverse("api-v1-products"), {"page_size": 30, "q": "product"})
    assert len(response.json()["results"]) == 30


def test_categories_are_a_flat_tree_and_vendors_a_list(api: APIClient) -> None:
    department = CategoryFactory(name="Drinks")
    shelf = CategoryFactory(name="Soft drinks", parent=department)
    vendor = VendorFactory(name="Brightwell")
    assert api.get(reverse("api-v1-categories")).json() == [
        {"id": department.pk, "name": "Drinks", "parent_id": None},
        {"id": shelf.pk, "name": "Soft drinks", "parent_id": department.pk},
    ]
    assert api.get(reverse("api-v1-vendors")).json() == [{"id": vendor.pk, "name": "Brightwell"}]


@pytest.mark.parametrize("name", ["api-v1-products", "api-v1-categories", "api-v1-vendors"])
def test_catalogue_endpoints_are_for_retailer_members_only(name: str) -> None:
    anonymous = APIClient().get(reverse(name))
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "not_authenticated"
    vendor_member = _signed_in(UserFactory(vendor_member=True)).get(reverse(name))
    assert vendor_member.status_code == 403
    assert vendor_member.json()["error"]["code"] == "permission_denied"
