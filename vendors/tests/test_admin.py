from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from accounts.tests.factories import UserFactory
from catalog.tests.factories import ProductFactory
from orders.tests.factories import OrderFactory, OrderLineFactory
from recommendations.models import TaskOutbox
from vendors import tasks
from vendors.models import ForecastRun, VendorAnalytics
from vendors.tests.factories import (
    ForecastRunFactory,
    ProductForecastFactory,
    VendorAnalyticsFactory,
    VendorFactory,
)

pytestmark = pytest.mark.django_db

ROWS = 40


@pytest.fixture
def staff_client(client: Client) -> Client:
    client.force_login(UserFactory(staff_member=True))
    return client


def test_vendor_changelist_counts_products_and_members_in_bounded_queries(
    staff_client: Client, django_assert_max_num_queries: object
) -> None:
    for vendor in VendorFactory.create_batch(ROWS):
        ProductFactory.create_batch(3, vendor=vendor)
        UserFactory(vendor_member=True, vendor=vendor)

    with django_assert_max_num_queries(6):
        response = staff_client.get(reverse("admin:vendors_vendor_changelist"))

    assert response.status_code == 200
    rows = response.context["cl"].result_list
    assert len(rows) == ROWS
    assert {(row.product_total, row.member_total) for row in rows} == {(3, 1)}


@pytest.mark.parametrize(
    "changelist",
    [
        "admin:vendors_vendor_changelist",
        "admin:vendors_vendoranalytics_changelist",
        "admin:vendors_forecastrun_changelist",
        "admin:vendors_productforecast_changelist",
    ],
)
@pytest.mark.parametrize("traits", [{}, {"vendor_member": True}])
def test_vendor_admin_is_closed_to_non_staff(client: Client, traits: dict, changelist: str) -> None:
    client.force_login(UserFactory(**traits))

    response = client.get(reverse(changelist))

    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


def test_the_analytics_changelist_shows_each_vendors_as_of_day_and_live_run_in_bounded_queries(
    staff_client: Client, django_assert_max_num_queries: object
) -> None:
    for _ in range(ROWS):
        run = ForecastRunFactory()
        VendorAnalyticsFactory(vendor=run.vendor, forecast_run=run)

    with django_assert_max_num_queries(6):
        response = staff_client.get(reverse("admin:vendors_vendoranalytics_changelist"))

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == ROWS
    body = response.content.decode()
    assert reverse("admin:vendors_forecastrun_change", args=[run.pk]) in body
    assert "31 May 2026" in body


def test_forecast_runs_are_listed_filtered_by_status_and_read_only(
    staff_client: Client, django_assert_max_num_queries: object
) -> None:
    ForecastRunFactory.create_batch(ROWS, series=12, seconds=3.25)
    failed = ForecastRunFactory(status=ForecastRun.Status.FAILED, error="ValueError: no sales")

    with django_assert_max_num_queries(8):
        response = staff_client.get(reverse("admin:vendors_forecastrun_changelist"))
    filtered = staff_client.get(reverse("admin:vendors_forecastrun_changelist"), {"status__exact": "failed"})
    change = staff_client.get(reverse("admin:vendors_forecastrun_change", args=[failed.pk]))

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == ROWS + 1
    assert list(filtered.context["cl"].result_list) == [failed]
    assert change.status_code == 200
    assert "ValueError: no sales" in change.content.decode()
    assert "<td>0.420</td>" in change.content.decode()  # the backtest's WAPE of the factory's method
    assert "3.2 s" in response.content.decode()  # how long a run took, in seconds and minutes
    assert 'name="_save"' not in change.content.decode()
    assert staff_client.get(reverse("admin:vendors_forecastrun_add")).status_code == 403


def test_a_runs_series_open_from_the_run_and_list_in_bounded_queries(
    staff_client: Client, django_assert_max_num_queries: object
) -> None:
    run = ForecastRunFactory(series=ROWS + 1)
    forecasts = ProductForecastFactory.create_batch(ROWS, run=run)
    ProductForecastFactory(run=run, product=None)
    ProductForecastFactory()  # another run's series

    change = staff_client.get(reverse("admin:vendors_forecastrun_change", args=[run.pk]))
    url = reverse("admin:vendors_productforecast_changelist") + f"?run__id__exact={run.pk}"
    with django_assert_max_num_queries(10):
        response = staff_client.get(url)

    assert url.replace("&", "&amp;") in change.content.decode()
    assert response.status_code == 200
    rows = response.context["cl"].result_list
    assert len(rows) == ROWS + 1
    body = response.content.decode()
    assert "Vendor total" in body and forecasts[0].product.name in body
    detail = staff_client.get(reverse("admin:vendors_productforecast_change", args=[forecasts[0].pk]))
    assert detail.status_code == 200 and forecasts[0].reason in detail.content.decode()


@pytest.mark.parametrize(
    ("action", "task", "extra_args"),
    [
        ("refresh_analytics", tasks.refresh_vendor_rollups, []),
        ("refresh_analytics_and_forecasts", tasks.refresh_vendor_forecasts, [True]),
    ],
)
@pytest.mark.parametrize("changelist", ["vendoranalytics", "vendor"])
def test_refresh_actions_queue_one_task_per_selected_vendor_through_the_outbox(
    staff_client: Client, action: str, task: object, extra_args: list, changelist: str
) -> None:
    analytics = VendorAnalyticsFactory.create_batch(3)
    selected = analytics[:2]
    pks = [row.pk if changelist == "vendoranalytics" else row.vendor_id for row in selected]

    response = staff_client.post(
        reverse(f"admin:vendors_{changelist}_changelist"),
        {"action": action, "_selected_action": pks},
        follow=True,
    )

    assert response.status_code == 200
    queued = TaskOutbox.objects.order_by("pk")
    assert [(entry.task_name, entry.args) for entry in queued] == [
        (task.name, [row.vendor_id, *extra_args]) for row in sorted(selected, key=lambda row: row.vendor_id)
    ]
    assert "Queued a refresh" in response.content.decode()
    assert "2 vendors" in response.content.decode()


def test_the_queued_rollup_refresh_rebuilds_the_vendors_figures(staff_client: Client) -> None:
    product = ProductFactory()
    order = OrderFactory(placed_at=datetime(2026, 3, 1, 10, tzinfo=UTC))
    OrderLineFactory(order=order, product=product, quantity=3, unit_price=Decimal("2.00"))

    staff_client.post(
        reverse("admin:vendors_vendor_changelist"),
        {"action": "refresh_analytics", "_selected_action": [product.vendor_id]},
    )
    entry = TaskOutbox.objects.get()
    tasks.refresh_vendor_rollups(*entry.args)

    assert VendorAnalytics.objects.get(vendor=product.vendor).as_of == datetime(2026, 3, 1).date()
