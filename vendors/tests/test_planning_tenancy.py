"""Every page, htmx partial and CSV of the product, forecasts and insights pages shows one vendor only."""

from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.test import Client
from django.urls import reverse

from accounts.tests.factories import RetailerFactory, UserFactory
from catalog.tests.factories import CategoryFactory, ProductFactory
from orders.tests.factories import OrderFactory, OrderLineFactory
from recommendations.tests.factories import ProductAssociationFactory, ReorderPredictionFactory
from vendors.models import ForecastRun, ProductForecast, VendorAnalytics
from vendors.services import vendor_rollups_refresh

pytestmark = pytest.mark.django_db

AS_OF = date(2024, 6, 30)
# Figures and names that only the rival vendor's data holds.
RIVAL_MARKERS = ("Rival marmalade", "Rival pickle", "Rival-only Retailer", "Rival Lapser", "98765", "98,765",
                 "43210", "43,210", "919", "6161", "6,161")  # fmt: skip


@pytest.fixture(autouse=True)
def _local_cache(settings: object) -> None:
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


def _order(retailer: object, products: list, day: date, quantity: int = 2) -> None:
    order = OrderFactory(retailer=retailer, placed_at=datetime.combine(day, time(12), tzinfo=UTC))
    for product in products:
        OrderLineFactory(order=order, product=product, quantity=quantity)


def _run(vendor: object, products: list, units: float) -> None:
    run = ForecastRun.objects.create(
        vendor=vendor,
        status=ForecastRun.Status.DONE,
        last_week=date(2024, 6, 24),
        backtest={"ets": {"wape": 0.5}, "protocol": {"origins": 4}},
    )
    week = {"week": "2024-07-01", "point": units, "lo80": 1, "hi80": units, "lo95": 0, "hi95": units}
    for product in [*products, None]:
        ProductForecast.objects.create(
            run=run,
            product=product,
            method="naive",
            method_label="Seasonal naive",
            reason="Only method with enough history.",
            weeks=[week] * 8,
            horizon_units=units * 8,
        )
    VendorAnalytics.objects.filter(vendor=vendor).update(forecast_run=run)


def _two_vendors() -> tuple[object, object, object]:
    """Vendor X (the member's) and vendor Y, each with sales, lapsing buyers, forecasts, predictions."""
    member = UserFactory(vendor_member=True)
    category = CategoryFactory(name="Preserves")
    own = [ProductFactory(vendor=member.vendor, category=category, name=f"Own jam {i}") for i in range(3)]
    rival_vendor = ProductFactory(name="Rival marmalade", category=category).vendor
    rival = ProductFactory(vendor=rival_vendor, name="Rival marmalade 2", category=category)
    rival_other = ProductFactory(vendor=rival_vendor, name="Rival pickle", category=category)
    for index in range(6):
        _order(RetailerFactory(region="North"), own[: 1 + index % 3], AS_OF - timedelta(days=3))
        _order(RetailerFactory(region="North", name=f"Rival-only Retailer {index}"), [rival, rival_other],
               AS_OF - timedelta(days=3), quantity=98765)  # fmt: skip
    rival_lapser = RetailerFactory(name="Rival Lapser")
    own_lapser = RetailerFactory(name="Own Lapser")
    for offset in (100, 90, 80, 70):
        _order(rival_lapser, [rival], AS_OF - timedelta(days=offset))
        _order(own_lapser, [own[0]], AS_OF - timedelta(days=offset))
    _order(RetailerFactory(), [own[0]], AS_OF)
    ProductAssociationFactory(product=rival, other=rival_other, together=6161, rank=0)
    ProductAssociationFactory(product=own[1], other=own[0], together=12, rank=0)
    ReorderPredictionFactory(product=rival, expected_date=AS_OF + timedelta(days=2), suggested_quantity=919)
    ReorderPredictionFactory(product=own[0], expected_date=AS_OF + timedelta(days=2), suggested_quantity=4)
    for vendor_id in (member.vendor_id, rival_vendor.pk):
        vendor_rollups_refresh(vendor_id=vendor_id)
    _run(member.vendor, own, units=5.0)
    _run(rival_vendor, [rival, rival_other], units=43210.0)
    return member, own[1], rival


def _urls(product_id: int) -> list[tuple[str, dict]]:
    """(url, headers) of every page, partial and CSV."""
    pages = [
        reverse("vendors:product", args=[product_id]),
        reverse("vendors:forecasts"),
        reverse("vendors:insights"),
    ]
    csvs = [
        reverse("vendors:product_csv", args=[product_id, t]) for t in ("weekly", "regions", "bought-with")
    ]
    csvs += [reverse("vendors:forecasts_csv")]
    csvs += [reverse("vendors:forecasts_table_csv", args=[t]) for t in ("backtest", "reorders", "methods")]
    csvs += [reverse("vendors:insights_csv", args=[t]) for t in ("penetration", "prospects", "lapsing")]
    return (
        [(url, {}) for url in pages]
        + [(url, {"HX-Request": "true"}) for url in pages]
        + [(url, {}) for url in csvs]
    )


def _body(response: object) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


def test_a_vendor_never_sees_another_vendors_products_numbers_or_retailers(client: Client) -> None:
    member, own, _rival = _two_vendors()
    client.force_login(member)

    for url, headers in _urls(own.pk):
        for query in ({}, {"period": "365"}, {"vendor": _rival.vendor_id, "vendor_id": _rival.vendor_id}):
            response = client.get(url, query, headers=headers)
            assert response.status_code == 200, url
            body = _body(response)
            for marker in RIVAL_MARKERS:
                assert marker not in body, (url, headers, marker)


def test_the_member_sees_its_own_figures_on_those_pages(client: Client) -> None:
    member, own, _rival = _two_vendors()
    client.force_login(member)

    assert "Own jam 1" in client.get(reverse("vendors:product", args=[own.pk])).content.decode()
    assert "Own jam" in client.get(reverse("vendors:forecasts")).content.decode()
    assert "Own Lapser" in client.get(reverse("vendors:insights")).content.decode()


def test_another_vendors_product_id_is_404_on_the_page_and_its_csvs(client: Client) -> None:
    member, _own, rival = _two_vendors()
    client.force_login(member)

    assert client.get(reverse("vendors:product", args=[rival.pk])).status_code == 404
    assert client.get(reverse("vendors:product", args=[999_999])).status_code == 404
    for table in ("weekly", "regions", "bought-with"):
        assert client.get(reverse("vendors:product_csv", args=[rival.pk, table])).status_code == 404


@pytest.mark.parametrize("traits", [{}, {"staff_member": True}])
def test_pages_partials_and_csvs_are_forbidden_to_other_roles(client: Client, traits: dict) -> None:
    product = ProductFactory()
    client.force_login(UserFactory(**traits))

    for url, headers in _urls(product.pk):
        assert client.get(url, headers=headers).status_code == 403, url


def test_pages_partials_and_csvs_send_anonymous_visitors_to_login(client: Client) -> None:
    product = ProductFactory()

    for url, headers in _urls(product.pk):
        response = client.get(url, headers=headers)
        assert response.status_code == 302, url
        assert response.url == f"{reverse('accounts:login')}?next={url}"


def test_pages_partials_and_csvs_answer_before_the_first_rollup_refresh(client: Client) -> None:
    member = UserFactory(vendor_member=True)
    product = ProductFactory(vendor=member.vendor, name="Brand new jam")
    client.force_login(member)

    for url, headers in _urls(product.pk):
        response = client.get(url, headers=headers)
        assert response.status_code == 200, url
    content = client.get(reverse("vendors:insights")).content.decode()
    assert "No figures yet" in content
