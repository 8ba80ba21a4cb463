import pytest
from django.test import Client
from django.urls import reverse

from accounts.tests.factories import RetailerFactory, UserFactory
from orders.tests.factories import OrderFactory

pytestmark = pytest.mark.django_db

ROWS = 40


@pytest.fixture
def staff_client(client: Client) -> Client:
    client.force_login(UserFactory(staff_member=True))
    return client


def test_user_changelist_runs_in_bounded_queries(
    staff_client: Client, django_assert_max_num_queries: object
) -> None:
    UserFactory.create_batch(ROWS // 2)
    UserFactory.create_batch(ROWS // 2, vendor_member=True)

    with django_assert_max_num_queries(6):
        response = staff_client.get(reverse("admin:accounts_user_changelist"))

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == ROWS + 1


def test_retailer_changelist_counts_members_and_placed_orders_in_bounded_queries(
    staff_client: Client, django_assert_max_num_queries: object
) -> None:
    retailers = RetailerFactory.create_batch(ROWS)
    for retailer in retailers:
        UserFactory.create_batch(2, retailer=retailer)
        OrderFactory.create_batch(3, retailer=retailer)
        OrderFactory(retailer=retailer, basket=True)

    with django_assert_max_num_queries(8):
        response = staff_client.get(reverse("admin:accounts_retailer_changelist"))

    assert response.status_code == 200
    rows = response.context["cl"].result_list
    assert len(rows) == ROWS
    assert {(row.member_total, row.placed_order_total) for row in rows} == {(2, 3)}


def test_user_change_page_loads(staff_client: Client) -> None:
    user = UserFactory()

    response = staff_client.get(reverse("admin:accounts_user_change", args=[user.pk]))

    assert response.status_code == 200


def test_user_admin_reports_a_role_that_contradicts_the_organisation(staff_client: Client) -> None:
    user = UserFactory()
    response = staff_client.get(reverse("admin:accounts_user_change", args=[user.pk]))
    form = response.context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data.update({"role": "vendor", "last_login_0": "", "last_login_1": ""})
    data["date_joined_0"], data["date_joined_1"] = "2026-01-01", "10:00:00"

    response = staff_client.post(reverse("admin:accounts_user_change", args=[user.pk]), data)

    assert response.status_code == 200
    assert "Constraint “user_role_matches_organisation” is violated." in response.content.decode()
    user.refresh_from_db()
    assert user.role == "retailer"


@pytest.mark.parametrize("traits", [{}, {"vendor_member": True}])
@pytest.mark.parametrize("url_name", ["admin:accounts_user_changelist", "admin:accounts_retailer_changelist"])
def test_accounts_admin_is_closed_to_non_staff(client: Client, traits: dict, url_name: str) -> None:
    client.force_login(UserFactory(**traits))

    response = client.get(reverse(url_name))

    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))
