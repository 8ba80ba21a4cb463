import pytest
from django.test import Client
from django.urls import reverse

from accounts.tests.factories import UserFactory
from catalog.tests.factories import ProductFactory
from vendors.tests.factories import VendorFactory

pytestmark = pytest.mark.django_db

ROWS = 40


def test_vendor_changelist_counts_products_and_members_in_bounded_queries(
    client: Client, django_assert_max_num_queries: object
) -> None:
    client.force_login(UserFactory(staff_member=True))
    for vendor in VendorFactory.create_batch(ROWS):
        ProductFactory.create_batch(3, vendor=vendor)
        UserFactory(vendor_member=True, vendor=vendor)

    with django_assert_max_num_queries(6):
        response = client.get(reverse("admin:vendors_vendor_changelist"))

    assert response.status_code == 200
    rows = response.context["cl"].result_list
    assert len(rows) == ROWS
    assert {(row.product_total, row.member_total) for row in rows} == {(3, 1)}


@pytest.mark.parametrize("traits", [{}, {"vendor_member": True}])
def test_vendor_admin_is_closed_to_non_staff(client: Client, traits: dict) -> None:
    client.force_login(UserFactory(**traits))

    response = client.get(reverse("admin:vendors_vendor_changelist"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))
