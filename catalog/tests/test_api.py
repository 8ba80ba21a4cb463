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


def test_a_repeated_search_is_served_from_the_cache_with_the_same_answer(
    api: APIClient, django_assert_max_num_queries
) -> None:
    ProductFactory(name="Jam jar")
    first = api.get(reverse("api-v1-products"), {"q": "jam"})

    # Authentication only: no count and no page.
    with django_assert_max_num_queries(1):
        second = api.get(reverse("api-v1-products"), {"q": "jam"})

    assert second.status_code == 200
    assert second.content == first.content


def test_a_catalogue_change_is_searched_anew(api: APIClient, django_capture_on_commit_callbacks) -> None:
    product = ProductFactory(name="Jam jar")
    assert api.get(reverse("api-v1-products"), {"q": "jam"}).json()["results"][0]["name"] == "Jam jar"

    with django_capture_on_commit_callbacks(execute=True):
        product.name = "Jam jar, large"
        product.save()
    with django_capture_on_commit_callbacks(execute=True):
        ProductFactory(name="Jam pot")

    names = [row["name"] for row in api.get(reverse("api-v1-products"), {"q": "jam"}).json()["results"]]
    assert names == ["Jam jar, large", "Jam pot"]


def test_a_page_of_another_size_is_an_answer_of_its_own(api: APIClient) -> None:
    for index in range(3):
        ProductFactory(name=f"Item {index}")
    assert len(api.get(reverse("api-v1-products"), {"page_size": 2}).json()["results"]) == 2
    assert len(api.get(reverse("api-v1-products"), {"page_size": 3}).json()["results"]) == 3


def test_the_bought_filter_is_each_retailers_own_and_never_shared(user: User) -> None:
    mine = ProductFactory(name="Jam jar")
    theirs = ProductFactory(name="Jam pot")
    other = UserFactory()
    OrderLineFactory(order__retailer=user.retailer, product=mine)
    OrderLineFactory(order__retailer=other.retailer, product=theirs)

    for member, expected in ((user, ["Jam jar"]), (other, ["Jam pot"]), (user, ["Jam jar"])):
        data = _signed_in(member).get(reverse("api-v1-products"), {"q": "jam", "bought": "before"}).json()
        assert [row["name"] for row in data["results"]] == expected


def test_two_retailers_searching_alike_get_the_same_page_with_nothing_of_either(user: User) -> None:
    product = ProductFactory(name="Jam jar")
    OrderLineFactory(order__retailer=user.retailer, product=product)
    other = UserFactory()

    mine = _signed_in(user).get(reverse("api-v1-products"), {"q": "jam"})
    theirs = _signed_in(other).get(reverse("api-v1-products"), {"q": "jam"})

    assert mine.content == theirs.content
    assert set(mine.json()["results"][0]) == {
        "id",
        "sku",
        "name",
        "description",
        "vendor",
        "category",
        "unit_price",
        "pack_size",
        "is_active",
    }
