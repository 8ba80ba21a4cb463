"""Token endpoints beyond the sign-in sessions suite: verify, every password-change path, bulk revocation,
and the one-query user lookup."""

import json

import pytest
from django.contrib.auth.forms import PasswordChangeForm
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIRequestFactory
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.api_auth import JWTAuthentication
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db
JSON = "application/json"
NEW_PASSWORD = "a-much-longer-new-secret-42"


@pytest.fixture(autouse=True)
def _fresh_throttles() -> None:
    cache.clear()


def _post(name: str, body: object, *, token: str | None = None) -> object:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return Client().post(reverse(name), json.dumps(body), content_type=JSON, headers=headers)


def _sign_in(user: object) -> dict[str, str]:
    answer = _post("api-v1-token", {"username": user.username, "password": DEFAULT_PASSWORD})
    assert answer.status_code == 200, answer.content
    return answer.json()


def test_verify_accepts_a_live_token_and_refuses_one_from_before_a_password_change() -> None:
    user = UserFactory()
    tokens = _sign_in(user)
    live = _post("api-v1-token-verify", {"token": tokens["access"]})
    user.set_password(NEW_PASSWORD)
    user.save()
    stale = _post("api-v1-token-verify", {"token": tokens["access"]})

    assert live.status_code == 200
    assert live.json()["token_type"] == "access"
    assert stale.status_code == 401
    assert stale.json()["error"]["code"] == "password_changed"


def test_verify_refuses_a_blacklisted_refresh_token() -> None:
    tokens = _sign_in(UserFactory())
    assert _post("api-v1-token-logout", {"refresh": tokens["refresh"]}).status_code == 204

    answer = _post("api-v1-token-verify", {"token": tokens["refresh"]})

    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "token_not_valid"


def test_logging_out_twice_is_a_401() -> None:
    tokens = _sign_in(UserFactory())
    assert _post("api-v1-token-logout", {"refresh": tokens["refresh"]}).status_code == 204

    assert _post("api-v1-token-logout", {"refresh": tokens["refresh"]}).status_code == 401


def test_a_password_change_in_the_portal_form_blacklists_every_outstanding_refresh_token() -> None:
    user = UserFactory()
    for _ in range(3):
        RefreshToken.for_user(user)
    form = PasswordChangeForm(
        user, {"old_password": DEFAULT_PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert form.is_valid(), form.errors

    form.save()

    assert OutstandingToken.objects.filter(user=user).count() == 3
    assert BlacklistedToken.objects.filter(token__user=user).count() == 3


def test_a_password_change_in_the_admin_revokes_the_refresh_tokens() -> None:
    staff, member = UserFactory(staff_member=True), UserFactory()
    tokens = _sign_in(member)
    admin = Client()
    admin.force_login(staff)

    answer = admin.post(
        reverse("admin:auth_user_password_change", args=[member.pk]),
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )

    assert answer.status_code == 302, answer.content[:500]
    assert _post("api-v1-token-refresh", {"refresh": tokens["refresh"]}).status_code == 401


def test_deactivating_a_user_blacklists_the_refresh_tokens_and_other_saves_do_not() -> None:
    user = UserFactory()
    RefreshToken.for_user(user)
    user.first_name = "Renamed"
    user.save()
    assert not BlacklistedToken.objects.exists()

    user.is_active = False
    user.save()

    assert BlacklistedToken.objects.filter(token__user=user).count() == 1


def test_a_refresh_returns_a_working_pair_and_outstands_the_new_refresh_token() -> None:
    user = UserFactory()
    tokens = _sign_in(user)

    rotated = _post("api-v1-token-refresh", {"refresh": tokens["refresh"]}).json()

    assert set(rotated) == {"access", "refresh"}
    assert OutstandingToken.objects.filter(jti=RefreshToken(rotated["refresh"])["jti"], user=user).exists()
    me = Client().get(reverse("api-v1-me"), headers={"Authorization": f"Bearer {rotated['access']}"})
    assert me.status_code == 200


def test_a_refresh_token_naming_a_user_id_that_is_not_a_number_is_a_401() -> None:
    token = RefreshToken.for_user(UserFactory())
    token["user_id"] = "not-a-number"

    answer = _post("api-v1-token-refresh", {"refresh": str(token)})

    assert answer.status_code == 401


def test_wrong_credentials_are_a_401_in_the_error_shape() -> None:
    user = UserFactory()

    answer = _post("api-v1-token", {"username": user.username, "password": "wrong"})

    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "no_active_account"


def test_bearer_authentication_loads_the_user_and_the_retailer_in_one_query() -> None:
    user = UserFactory()
    request = APIRequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")

    with CaptureQueriesContext(connection) as queries:
        authenticated, _ = JWTAuthentication().authenticate(request)
        retailer_name = authenticated.retailer.name

    assert len(queries) == 1
    assert retailer_name == user.retailer.name


def test_bearer_authentication_loads_a_vendor_member_with_the_vendor_and_no_retailer() -> None:
    user = UserFactory(vendor_member=True)
    request = APIRequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")

    with CaptureQueriesContext(connection) as queries:
        authenticated, _ = JWTAuthentication().authenticate(request)
        organisation = (authenticated.retailer, authenticated.vendor.name)

    assert len(queries) == 1
    assert organisation == (None, user.vendor.name)
    assert authenticated.pk == user.pk and authenticated.username == user.username
    assert authenticated.password == user.password and not authenticated._state.adding


@pytest.mark.parametrize("user_id", [2**63, 2**80, -1, 0, "12abc", 1.5e30])
def test_an_access_token_naming_a_user_id_out_of_range_is_a_401(user_id: object) -> None:
    token = AccessToken.for_user(UserFactory())
    token["user_id"] = user_id

    answer = Client().get(reverse("api-v1-me"), headers={"Authorization": f"Bearer {token}"})

    assert answer.status_code == 401
