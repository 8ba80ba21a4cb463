import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("traits", "target"),
    [
        ({}, "recommendations:dashboard"),
        ({"vendor_member": True}, "vendors:home"),
        ({"staff_member": True}, "admin:index"),
    ],
)
def test_home_sends_each_role_to_its_landing_page(client: Client, traits: dict, target: str) -> None:
    client.force_login(UserFactory(**traits))

    response = client.get(reverse("accounts:home"))

    assert response.status_code == 302
    assert response.url == reverse(target)


def test_home_sends_anonymous_visitors_to_login(client: Client) -> None:
    response = client.get(reverse("accounts:home"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))


def test_login_page_renders(client: Client) -> None:
    response = client.get(reverse("accounts:login"))

    assert response.status_code == 200
    assert b'autocomplete="current-password"' in response.content


def test_login_lands_a_vendor_on_the_vendor_home_via_home(client: Client) -> None:
    user = UserFactory(vendor_member=True)

    response = client.post(
        reverse("accounts:login"), {"username": user.username, "password": DEFAULT_PASSWORD}, follow=True
    )

    assert [url for url, _ in response.redirect_chain] == [reverse("accounts:home"), reverse("vendors:home")]
    assert response.status_code == 200


def test_login_honours_next(client: Client) -> None:
    user = UserFactory()

    response = client.post(
        reverse("accounts:login"),
        {"username": user.username, "password": DEFAULT_PASSWORD, "next": reverse("accounts:settings")},
    )

    assert response.url == reverse("accounts:settings")


def test_login_rejects_a_wrong_password_with_a_clear_error(client: Client) -> None:
    user = UserFactory()

    response = client.post(reverse("accounts:login"), {"username": user.username, "password": "wrong"})

    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content
    assert "_auth_user_id" not in client.session


def test_logout_requires_post(client: Client) -> None:
    client.force_login(UserFactory())

    assert client.get(reverse("accounts:logout")).status_code == 405
    assert "_auth_user_id" in client.session


def test_logout_ends_the_session(client: Client) -> None:
    client.force_login(UserFactory())

    response = client.post(reverse("accounts:logout"))

    assert response.url == reverse("accounts:login")
    assert "_auth_user_id" not in client.session


def test_password_change_sets_the_new_password_and_keeps_the_session(client: Client) -> None:
    user = UserFactory()
    client.force_login(user)

    response = client.post(
        reverse("accounts:password_change"),
        {
            "old_password": DEFAULT_PASSWORD,
            "new_password1": "a-brand-new-shop-password",
            "new_password2": "a-brand-new-shop-password",
        },
    )

    assert response.url == reverse("accounts:password_change_done")
    user.refresh_from_db()
    assert user.check_password("a-brand-new-shop-password")
    assert client.get(reverse("accounts:password_change_done")).status_code == 200


def test_password_change_rejects_a_wrong_old_password(client: Client) -> None:
    user = UserFactory()
    client.force_login(user)

    response = client.post(
        reverse("accounts:password_change"),
        {"old_password": "not-it", "new_password1": "a-brand-new-pw-1", "new_password2": "a-brand-new-pw-1"},
    )

    assert response.status_code == 200
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)


@pytest.mark.parametrize("url_name", ["profile", "settings", "password_change", "password_change_done"])
def test_account_pages_require_login(client: Client, url_name: str) -> None:
    response = client.get(reverse(f"accounts:{url_name}"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))


@pytest.mark.parametrize(
    ("traits", "organisation_attr"),
    [({}, "retailer"), ({"vendor_member": True}, "vendor")],
)
def test_profile_shows_name_email_role_and_organisation(
    client: Client, traits: dict, organisation_attr: str
) -> None:
    user = UserFactory(first_name="Priya", last_name="Shah", **traits)
    client.force_login(user)

    response = client.get(reverse("accounts:profile"))

    content = response.content.decode()
    assert "Priya Shah" in content
    assert user.email in content
    assert user.get_role_display() in content
    assert getattr(user, organisation_attr).name in content


def test_profile_shows_staff_as_platform_staff(client: Client) -> None:
    client.force_login(UserFactory(staff_member=True))

    response = client.get(reverse("accounts:profile"))

    assert "SmartBasket platform staff" in response.content.decode()


def test_profile_update_saves_name_and_email(client: Client) -> None:
    user = UserFactory()
    client.force_login(user)

    response = client.post(
        reverse("accounts:profile"), {"first_name": "Ann", "last_name": "Lee", "email": "ann@shop.example"}
    )

    assert response.url == reverse("accounts:profile")
    user.refresh_from_db()
    assert (user.first_name, user.last_name, user.email) == ("Ann", "Lee", "ann@shop.example")


def test_profile_update_rejects_an_email_used_by_someone_else(client: Client) -> None:
    other = UserFactory(email="taken@shop.example")
    user = UserFactory()
    client.force_login(user)

    response = client.post(
        reverse("accounts:profile"), {"first_name": "Ann", "last_name": "", "email": other.email.upper()}
    )

    assert response.status_code == 200
    assert "Another account already uses this email address." in response.content.decode()
    user.refresh_from_db()
    assert user.email != other.email


def test_settings_update_saves_preferences(client: Client) -> None:
    user = UserFactory()
    client.force_login(user)

    response = client.post(reverse("accounts:settings"), {"items_per_page": "50", "email_opt_in": "on"})

    assert response.url == reverse("accounts:settings")
    user.refresh_from_db()
    assert user.items_per_page == 50
    assert user.email_opt_in is True


def test_settings_update_rejects_an_unknown_page_size(client: Client) -> None:
    user = UserFactory(items_per_page=User.ItemsPerPage.TEN)
    client.force_login(user)

    response = client.post(reverse("accounts:settings"), {"items_per_page": "7"})

    assert response.status_code == 200
    user.refresh_from_db()
    assert user.items_per_page == 10


def test_settings_page_shows_current_preferences(client: Client) -> None:
    client.force_login(
        UserFactory(
            items_per_page=User.ItemsPerPage.HUNDRED, email_opt_in=True, email_order_confirmations=False
        )
    )

    content = client.get(reverse("accounts:settings")).content.decode()

    assert '<option value="100" selected>' in content
    assert 'id="id_email_opt_in" checked' in content
    assert (
        '<input type="checkbox" name="email_order_confirmations" id="id_email_order_confirmations">'
        in content
    )
