from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from accounts.tests.factories import UserFactory
from catalog.tests.factories import ProductFactory
from orders.tests.factories import OrderFactory, OrderLineFactory

pytestmark = pytest.mark.django_db

VENDOR_HOME = reverse("vendors:home")


def test_vendor_home_shows_own_products_and_their_sales(client: Client) -> None:
    member = UserFactory(vendor_member=True)
    product = ProductFactory(vendor=member.vendor, name="Jam jar lid")
    OrderLineFactory(product=product, quantity=12, unit_price=Decimal("0.50"))
    client.force_login(member)

    response = client.get(VENDOR_HOME)

    assert response.status_code == 200
    content = response.content.decode()
    assert "Jam jar lid" in content
    assert "£6.00" in content
    assert member.vendor.name in content


def test_vendor_home_never_shows_another_vendors_products_or_numbers(client: Client) -> None:
    # Named, so a factory sequence number on the page ("Vendor 777") cannot pass for the rival's figure.
    member = UserFactory(vendor_member=True, username="own-member", vendor__name="Own vendor")
    ProductFactory(vendor=member.vendor, name="Own product", sku="OWN-1")
    rival_product = ProductFactory(name="Rival product")
    OrderLineFactory(product=rival_product, quantity=777, unit_price=Decimal("3.33"))
    client.force_login(member)

    content = client.get(VENDOR_HOME).content.decode()

    assert "Own product" in content
    assert "Rival product" not in content
    assert "777" not in content
    assert "2,587.41" not in content


def test_vendor_home_cannot_be_pointed_at_another_vendor(client: Client) -> None:
    member = UserFactory(vendor_member=True)
    rival_product = ProductFactory(name="Rival product")
    client.force_login(member)

    response = client.get(
        VENDOR_HOME, {"vendor": rival_product.vendor_id, "vendor_id": rival_product.vendor_id}
    )

    assert "Rival product" not in response.content.decode()


@pytest.mark.parametrize("traits", [{}, {"staff_member": True}])
def test_vendor_home_is_forbidden_to_other_roles(client: Client, traits: dict) -> None:
    client.force_login(UserFactory(**traits))

    assert client.get(VENDOR_HOME).status_code == 403


def test_vendor_home_sends_anonymous_visitors_to_login(client: Client) -> None:
    response = client.get(VENDOR_HOME)

    assert response.status_code == 302
    assert response.url == f"{reverse('accounts:login')}?next={VENDOR_HOME}"


def test_vendor_home_paginates_products_by_the_members_page_size(client: Client) -> None:
    member = UserFactory(vendor_member=True, items_per_page=10)
    ProductFactory.create_batch(23, vendor=member.vendor)
    client.force_login(member)

    response = client.get(VENDOR_HOME, {"page": 3})

    assert "Products 21\N{EN DASH}23 of 23" in response.content.decode()


def test_vendor_home_serves_only_the_product_table_to_htmx(client: Client) -> None:
    member = UserFactory(vendor_member=True, items_per_page=10)
    ProductFactory.create_batch(12, vendor=member.vendor)
    client.force_login(member)

    response = client.get(VENDOR_HOME, {"page": 2}, headers={"HX-Request": "true"})

    content = response.content.decode()
    assert content.lstrip().startswith('<div id="product-performance">')
    assert "Weekly demand" not in content
    assert "<html" not in content


def test_vendor_home_query_count_does_not_grow_with_products_or_orders(
    client: Client, django_assert_max_num_queries: object
) -> None:
    member = UserFactory(vendor_member=True, items_per_page=100)
    products = ProductFactory.create_batch(60, vendor=member.vendor)
    for index in range(20):
        order = OrderFactory()
        for product in products[index : index + 5]:
            OrderLineFactory(order=order, product=product, quantity=index + 1)
    client.force_login(member)

    # session + user, as-of, period figures, top products, weekly series, product count, product page.
    with django_assert_max_num_queries(9):
        response = client.get(VENDOR_HOME)

    assert response.status_code == 200
