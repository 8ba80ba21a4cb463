"""The API's cached user rows (accounts/user_cache.py): a request after the first authenticates from Redis,
and every change to the user, the retailer or the vendor is seen by the next request; a token verified once
per process (accounts/api_auth.py) still ends at its expiry."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIRequestFactory
from rest_framework_simplejwt import tokens
from rest_framework_simplejwt.tokens import AccessToken

from accounts import api_auth, user_cache
from accounts.api_auth import JWTAuthentication
from accounts.models import User
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from smartbasket import read_through

pytestmark = pytest.mark.django_db
CLOSED_PORT_URL = "redis://127.0.0.1:1/0"


def _authenticate(user: User) -> tuple[User, int]:
    request = APIRequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    with CaptureQueriesContext(connection) as queries:
        authenticated, _ = JWTAuthentication().authenticate(request)
        # What API views read of the user: its organisation, loaded with it.
        _ = (authenticated.retailer, authenticated.vendor)
    return authenticated, len(queries)


def _me(user: User) -> object:
    return Client().get(
        reverse("api-v1-me"), headers={"Authorization": f"Bearer {AccessToken.for_user(user)}"}
    )


def test_a_second_request_authenticates_without_a_query() -> None:
    user = UserFactory()

    _, first_queries = _authenticate(user)
    second, second_queries = _authenticate(user)

    assert (first_queries, second_queries) == (1, 0)
    assert second.pk == user.pk and second.retailer.name == user.retailer.name
    assert second.username == user.username and second.is_active


def test_the_cache_holds_no_password_hash_and_a_cached_user_saves_without_losing_it() -> None:
    user = UserFactory()
    _authenticate(user)
    cached, _ = _authenticate(user)
    entry = cache.get(read_through.KEY_PREFIX + user_cache.user_key(user.pk))

    cached.first_name = "Renamed"
    cached.save()
    user.refresh_from_db()

    assert user.password not in repr(entry)
    assert user.first_name == "Renamed"
    assert user.check_password(DEFAULT_PASSWORD)
    assert cached.password == user.password


def test_a_deactivation_after_the_row_was_cached_is_a_401_at_the_next_request() -> None:
    user = UserFactory()
    assert _me(user).status_code == 200
    assert _me(user).status_code == 200

    user.is_active = False
    user.save()

    answer = _me(user)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "user_inactive"


def test_a_password_change_after_the_row_was_cached_ends_the_old_access_token() -> None:
    user = UserFactory()
    token = AccessToken.for_user(user)
    headers = {"Authorization": f"Bearer {token}"}
    assert Client().get(reverse("api-v1-me"), headers=headers).status_code == 200
    assert Client().get(reverse("api-v1-me"), headers=headers).status_code == 200

    user.set_password("a-much-longer-new-secret-42")
    user.save()

    answer = Client().get(reverse("api-v1-me"), headers=headers)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "password_changed"


def test_a_retailer_change_is_seen_by_its_members_next_request() -> None:
    user = UserFactory()
    _authenticate(user)
    _authenticate(user)

    user.retailer.name = "Renamed Corner Shop"
    user.retailer.save()
    after, queries = _authenticate(user)

    assert queries == 1
    assert after.retailer.name == "Renamed Corner Shop"


def test_a_vendor_change_is_seen_by_its_members_next_request() -> None:
    user = UserFactory(vendor_member=True)
    _authenticate(user)
    _authenticate(user)

    user.vendor.name = "Renamed Wholesale Ltd"
    user.vendor.save()
    after, _ = _authenticate(user)

    assert after.vendor.name == "Renamed Wholesale Ltd"


def test_a_deleted_user_is_a_401_even_after_its_row_was_cached() -> None:
    user = UserFactory()
    token = AccessToken.for_user(user)
    headers = {"Authorization": f"Bearer {token}"}
    assert Client().get(reverse("api-v1-me"), headers=headers).status_code == 200
    assert Client().get(reverse("api-v1-me"), headers=headers).status_code == 200

    user.delete()

    answer = Client().get(reverse("api-v1-me"), headers=headers)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "user_not_found"


def test_a_row_read_before_a_change_is_not_stored_over_its_tombstone() -> None:
    user = UserFactory()
    # The change's tombstone lands while a reader is between its read of PostgreSQL and its store.
    read_through.entries_changed(keys=[user_cache.user_key(user.pk)])

    _, first = _authenticate(user)
    _, second = _authenticate(user)

    assert (first, second) == (1, 1)
    assert cache.get(read_through.KEY_PREFIX + user_cache.user_key(user.pk)) == read_through.TOMBSTONE


def test_with_redis_down_every_request_authenticates_from_postgresql(settings: object) -> None:
    user = UserFactory()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CLOSED_PORT_URL,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }

    authenticated, queries = _authenticate(user)
    user.is_active = False
    user.save()

    assert (authenticated.pk, queries) == (user.pk, 1)
    assert _me(user).status_code == 401


def test_a_token_verified_earlier_is_refused_once_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    user = UserFactory()
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=timedelta(seconds=30))
    headers = {"Authorization": f"Bearer {token}"}
    assert Client().get(reverse("api-v1-me"), headers=headers).status_code == 200

    # The same string, now past its `exp`: the process's verified-token cache must not answer for it.
    later = datetime.now(UTC) + timedelta(minutes=1)
    monkeypatch.setattr(api_auth, "aware_utcnow", lambda: later)
    monkeypatch.setattr(tokens, "aware_utcnow", lambda: later)
    answer = Client().get(reverse("api-v1-me"), headers=headers)

    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "token_not_valid"


def test_each_request_gets_its_own_user_objects() -> None:
    user = UserFactory()
    _authenticate(user)
    first, _ = _authenticate(user)
    first.first_name = "Changed but never saved"
    first.retailer.name = "Changed but never saved"

    second, queries = _authenticate(user)

    assert queries == 0
    assert (second.first_name, second.retailer.name) == (user.first_name, user.retailer.name)
