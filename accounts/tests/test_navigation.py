import pytest
from django.test import Client
from django.urls import reverse

from accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _nav_of(client: Client) -> str:
    content = client.get(reverse("accounts:profile")).content.decode()
    return content[content.index('<nav class="mainnav"') : content.index("</nav>")]


def test_retailer_navigation_links_the_portal_pages(client: Client) -> None:
    client.force_login(UserFactory())

    nav = _nav_of(client)

    for name in (
        "recommendations:dashboard",
        "catalog:list",
        "orders:basket",
        "orders:list",
        "recommendations:history",
    ):
        assert f'href="{reverse(name)}"' in nav
    assert 'id="nav-basket-count"' in nav
    assert "Demand analytics" not in nav
    assert reverse("admin:index") not in nav


def test_vendor_navigation_links_only_vendor_analytics(client: Client) -> None:
    client.force_login(UserFactory(vendor_member=True))

    nav = _nav_of(client)

    assert f'href="{reverse("vendors:home")}"' in nav
    assert ">Catalogue</a>" not in nav
    assert ">Basket</a>" not in nav


def test_staff_navigation_links_the_admin(client: Client) -> None:
    client.force_login(UserFactory(staff_member=True))

    nav = _nav_of(client)

    assert f'href="{reverse("admin:index")}"' in nav
    assert ">Dashboard</a>" not in nav


def test_forbidden_pages_use_the_site_layout(client: Client) -> None:
    client.force_login(UserFactory())

    response = client.get(reverse("vendors:home"))

    assert response.status_code == 403
    assert "This page is not available to your account" in response.content.decode()
