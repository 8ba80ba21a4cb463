import pytest
from django.test import Client
from django.urls import reverse

from accounts.tests.factories import UserFactory
from catalog.tests.factories import CategoryFactory, ProductFactory
from orders.models import Order
from orders.tests.factories import OrderFactory, OrderLineFactory

pytestmark = pytest.mark.django_db

ROWS = 40


@pytest.fixture
def staff_client(client: Client) -> Client:
    client.force_login(UserFactory(staff_member=True))
    return client


def test_product_changelist_shows_units_sold_in_bounded_queries(
    staff_client: Client, django_assert_max_num_queries: object
) -> None:
    department = CategoryFactory()
    products = ProductFactory.create_batch(ROWS, category=CategoryFactory(parent=department))
    for product in products:
        OrderLineFactory(product=product, quantity=3)
        OrderLineFactory(product=product, quantity=5)

    with django_assert_max_num_queries(10):
        response = staff_client.get(reverse("admin:catalog_product_changelist"))

    assert response.status_code == 200
    rows = response.context["cl"].result_list
    assert len(rows) == ROWS
    assert {row.units_sold_total for row in rows} == {8}


def test_product_units_sold_ignore_baskets_and_cancelled_orders(staff_client: Client) -> None:
    product = ProductFactory()
    OrderLineFactory(product=product, quantity=2)
    OrderLineFactory(product=product, quantity=50, order=OrderFactory(basket=True))
    OrderLineFactory(product=product, quantity=70, order=OrderFactory(status=Order.Status.CANCELLED))

    response = staff_client.get(reverse("admin:catalog_product_change", args=[product.pk]))

    assert response.status_code == 200
    assert response.context["adminform"].form.instance.units_sold_total == 2


def test_product_changelist_filters_by_department(staff_client: Client) -> None:
    department = CategoryFactory(name="Kitchen")
    inside = ProductFactory(category=CategoryFactory(parent=department))
    directly = ProductFactory(category=department)
    ProductFactory()

    response = staff_client.get(reverse("admin:catalog_product_changelist"), {"department": department.pk})

    assert {row.pk for row in response.context["cl"].result_list} == {inside.pk, directly.pk}


def test_category_changelist_runs_in_bounded_queries(
    staff_client: Client, django_assert_max_num_queries: object
) -> None:
    departments = CategoryFactory.create_batch(4)
    for index in range(ROWS):
        category = CategoryFactory(parent=departments[index % 4])
        ProductFactory(category=category)

    with django_assert_max_num_queries(7):
        response = staff_client.get(reverse("admin:catalog_category_changelist"))

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == ROWS + 4


def test_product_search_powers_autocomplete(staff_client: Client) -> None:
    ProductFactory(name="Regency teacup")

    response = staff_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "orders", "model_name": "orderline", "field_name": "product", "term": "teacup"},
    )

    assert [item["text"] for item in response.json()["results"]] == ["Regency teacup"]


@pytest.mark.parametrize("traits", [{}, {"vendor_member": True}])
@pytest.mark.parametrize(
    "url_name", ["admin:catalog_product_changelist", "admin:catalog_category_changelist"]
)
def test_catalog_admin_is_closed_to_non_staff(client: Client, traits: dict, url_name: str) -> None:
    client.force_login(UserFactory(**traits))

    response = client.get(reverse(url_name))

    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))
