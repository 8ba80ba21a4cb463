"""`users/me`: every kind of account reads its profile; edits follow the portal's rules."""

import json

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import User
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db
JSON = "application/json"


@pytest.fixture(autouse=True)
def _fresh_throttles() -> None:
    cache.clear()


def _bearer(user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {RefreshToken.for_user(user).access_token}"}


def _patch(user: User, body: object) -> object:
    return Client().patch(reverse("api-v1-me"), json.dumps(body), content_type=JSON, headers=_bearer(user))


def test_a_retailer_member_sees_the_profile_and_the_retailer() -> None:
    user = UserFactory()

    answer = Client().get(reverse("api-v1-me"), headers=_bearer(user))

    assert answer.status_code == 200
    body = answer.json()
    assert body["role"] == "retailer"
    assert body["username"] == user.username
    assert body["retailer"] == {
        "id": user.retailer.pk,
        "name": user.retailer.name,
        "city": "Leeds",
        "region": "Yorkshire",
        "country": "United Kingdom",
        "segment": "convenience",
        "size": "small",
    }


@pytest.mark.parametrize("kind", ["vendor_member", "staff_member"])
def test_vendor_members_and_staff_see_their_profile_without_a_retailer(kind: str) -> None:
    user = UserFactory(**{kind: True})

    answer = Client().get(reverse("api-v1-me"), headers=_bearer(user))

    assert answer.status_code == 200
    assert answer.json()["retailer"] is None
    assert answer.json()["role"] == user.role


def test_anonymous_is_a_401() -> None:
    answer = Client().get(reverse("api-v1-me"))

    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "not_authenticated"


def test_patch_changes_only_the_fields_sent() -> None:
    user = UserFactory(first_name="Sam")

    answer = _patch(user, {"items_per_page": 50, "email_opt_in": True})

    assert answer.status_code == 200
    user.refresh_from_db()
    assert (user.items_per_page, user.email_opt_in, user.first_name) == (50, True, "Sam")
    assert answer.json()["items_per_page"] == 50


def test_patch_turns_order_confirmation_emails_off() -> None:
    user = UserFactory()

    answer = _patch(user, {"email_order_confirmations": False})

    assert answer.status_code == 200
    assert answer.json()["email_order_confirmations"] is False
    user.refresh_from_db()
    assert (user.email_order_confirmations, user.email_opt_in) == (False, False)


def test_patch_refuses_an_email_another_account_uses_and_a_rows_per_page_not_offered() -> None:
    other, user = UserFactory(), UserFactory()

    answer = _patch(user, {"email": other.email.upper(), "items_per_page": 7})

    assert answer.status_code == 400
    assert set(answer.json()["error"]["fields"]) == {"email", "items_per_page"}
    user.refresh_from_db()
    assert user.items_per_page == 25


def test_patch_cannot_change_the_role_or_the_retailer() -> None:
    user = UserFactory()
    retailer_id = user.retailer_id

    _patch(user, {"role": "staff", "retailer": None, "username": "taken-over"})

    user.refresh_from_db()
    assert (user.role, user.retailer_id) == ("retailer", retailer_id)
    assert user.username != "taken-over"


def test_a_password_change_answers_a_new_pair_that_works_and_the_new_password_signs_in() -> None:
    user = UserFactory()

    answer = Client().post(
        reverse("api-v1-password"),
        json.dumps({"old_password": DEFAULT_PASSWORD, "new_password": "a-much-longer-new-secret-42"}),
        content_type=JSON,
        headers=_bearer(user),
    )

    assert answer.status_code == 200
    pair = answer.json()
    assert (
        Client().get(reverse("api-v1-me"), headers={"Authorization": f"Bearer {pair['access']}"}).status_code
        == 200
    )
    user.refresh_from_db()
    assert user.check_password("a-much-longer-new-secret-42")


def test_a_password_too_similar_or_common_gets_the_validators_messages() -> None:
    user = UserFactory()

    answer = Client().post(
        reverse("api-v1-password"),
        json.dumps({"old_password": DEFAULT_PASSWORD, "new_password": "password"}),
        content_type=JSON,
        headers=_bearer(user),
    )

    assert answer.status_code == 400
    assert answer.json()["error"]["fields"]["new_password"]
