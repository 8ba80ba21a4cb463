import pytest
from django.test import Client
from django.urls import reverse

from accounts.tests.factories import RetailerFactory, UserFactory
from catalog.tests.factories import ProductFactory
from orders.models import ImportRun
from orders.tests.factories import OrderFactory, OrderLineFactory
from vendors.tests.factories import VendorFactory

pytestmark = pytest.mark.django_db

ROWS = 40


@pytest.fixture
def staff_client(client: Client) -> Client:
    client.force_login(UserFactory(staff_member=True))
    return client


def _orders_with_lines() -> list:
    products = ProductFactory.create_batch(3)
    orders = OrderFactory.create_batch(ROWS)
    for order in orders:
        for product in products:
            OrderLineFactory(order=order, product=product, quantity=2)
    return orders


def test_order_changelist_shows_totals_in_bounded_queries(
    staff_client: Client, django_assert_max_num_queries: object
) -> None:
    _orders_with_lines()

    # session, user, date hierarchy, page of orders with annotated totals, status/source filters.
    with django_assert_max_num_queries(8):
        response = staff_client.get(reverse("admin:orders_order_changelist"))

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == ROWS
    assert response.context["cl"].result_list[0].line_total_count == 3


def test_order_changelist_total_matches_the_model_total(staff_client: Client) -> None:
    order = _orders_with_lines()[0]

    response = staff_client.get(reverse("admin:orders_order_changelist"), {"id__exact": order.pk})

    [row] = response.context["cl"].result_list
    assert row.total_amount == order.total


def test_orderline_changelist_runs_in_bounded_queries(
    staff_client: Client, django_assert_max_num_queries: object
) -> None:
    _orders_with_lines()

    with django_assert_max_num_queries(6):
        response = staff_client.get(reverse("admin:orders_orderline_changelist"))

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == min(ROWS * 3, 100)


def test_order_change_page_shows_its_lines_inline(
    staff_client: Client, django_assert_max_num_queries: object
) -> None:
    order = _orders_with_lines()[0]

    with django_assert_max_num_queries(14):
        response = staff_client.get(reverse("admin:orders_order_change", args=[order.pk]))

    assert response.status_code == 200
    assert response.context["adminform"].form.instance.line_total_count == 3
    assert len(response.context["inline_admin_formsets"][0].formset.forms) == 3


def test_orderline_change_page_loads(staff_client: Client) -> None:
    line = OrderLineFactory()

    response = staff_client.get(reverse("admin:orders_orderline_change", args=[line.pk]))

    assert response.status_code == 200


@pytest.mark.parametrize("traits", [{}, {"vendor_member": True}])
@pytest.mark.parametrize("url_name", ["admin:orders_order_changelist", "admin:orders_orderline_changelist"])
def test_order_admin_is_closed_to_non_staff(client: Client, traits: dict, url_name: str) -> None:
    OrderLineFactory()
    client.force_login(UserFactory(**traits))

    response = client.get(reverse(url_name))

    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


def test_import_run_changelist_runs_in_bounded_queries_and_is_read_only(
    staff_client: Client, django_assert_max_num_queries: object
) -> None:
    for vendor in VendorFactory.create_batch(ROWS):
        ImportRun.objects.create(
            source="csv",
            path="/data/orders.csv",
            sha256="0" * 64,
            vendor=vendor,
            counts={"orders_created": 12, "rejected_total": 1},
            duration_seconds=0.5,
        )

    # session, user, vendor filter, two counts, page, date hierarchy (two), source filter.
    with django_assert_max_num_queries(9):
        response = staff_client.get(reverse("admin:orders_importrun_changelist"))

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == ROWS
    run = ImportRun.objects.first()
    change = staff_client.get(reverse("admin:orders_importrun_change", args=[run.pk]))
    assert change.status_code == 200
    # How long the import took, as the other runs' pages say it.
    assert "0.5 s" in response.content.decode() and "0.5 s" in change.content.decode()
    assert staff_client.get(reverse("admin:orders_importrun_add")).status_code == 403


def test_the_order_list_names_orders_by_the_retailers_number_and_finds_them_by_it(
    staff_client: Client,
) -> None:
    # Names without digits: the search also matches the retailer's name, and the factory's "Corner Shop 12"
    # would be found by "2".
    first = OrderFactory(retailer=RetailerFactory(name="Corner Shop"))
    second = OrderFactory(retailer=first.retailer)
    OrderFactory(retailer=RetailerFactory(name="High Street Shop"))  # another retailer's #1

    listed = staff_client.get(reverse("admin:orders_order_changelist"), {"q": "2"})

    found = listed.context["cl"].result_list
    # The search also takes the internal id, so an order whose id happens to be 2 is found as well.
    assert second.pk in {order.pk for order in found}
    assert all(order.number == 2 or order.pk == 2 for order in found)
    assert "#2" in listed.content.decode()
    assert (first.number, second.number) == (1, 2)


def test_an_order_staff_add_as_placed_takes_the_retailers_next_number(staff_client: Client) -> None:
    earlier = OrderFactory()

    response = staff_client.post(
        reverse("admin:orders_order_add"),
        {
            "retailer": earlier.retailer_id,
            "status": "placed",
            "placed_at_0": "2026-11-20",
            "placed_at_1": "09:14:00",
            "source": "",
            "external_ref": "",
            "lines-TOTAL_FORMS": "0",
            "lines-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    added = earlier.retailer.orders.exclude(pk=earlier.pk).get()
    assert added.number == 2
