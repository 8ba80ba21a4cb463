"""API sign-in sessions: tokens that can be revoked, throttles that cannot lock the real user out, and
hostile bodies answered with a 400 in the API's error shape."""

import base64
import json
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db
JSON = "application/json"


def _post(path: str, body: object, *, address: str = "198.51.100.7", token: str | None = None) -> object:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return Client(REMOTE_ADDR=address).post(path, json.dumps(body), content_type=JSON, headers=headers)


def _me(token: str) -> int:
    return Client().get(reverse("api-v1-me"), headers={"Authorization": f"Bearer {token}"}).status_code


def _sign_in(user: object) -> dict[str, str]:
    answer = _post(reverse("api-v1-token"), {"username": user.username, "password": DEFAULT_PASSWORD})
    assert answer.status_code == 200, answer.content
    return answer.json()


def _refresh(refresh: str) -> object:
    return _post(reverse("api-v1-token-refresh"), {"refresh": refresh})


def test_a_refresh_rotates_and_the_old_refresh_token_is_then_refused() -> None:
    tokens = _sign_in(UserFactory())
    rotated = _refresh(tokens["refresh"])
    reused = _refresh(tokens["refresh"])

    assert rotated.status_code == 200
    assert rotated.json()["refresh"] != tokens["refresh"]
    assert _refresh(rotated.json()["refresh"]).status_code == 200
    assert reused.status_code == 401
    assert reused.json()["error"]["code"] == "token_not_valid"


@pytest.mark.parametrize("how", ["api", "set_password"])
def test_a_password_change_revokes_every_refresh_and_access_token(how: str) -> None:
    user = UserFactory()
    phone, tablet = _sign_in(user), _sign_in(user)
    if how == "api":
        answer = _post(
            reverse("api-v1-password"),
            {"old_password": DEFAULT_PASSWORD, "new_password": "a-much-longer-new-secret-42"},
            token=phone["access"],
        )
        assert answer.status_code == 200
        assert _me(answer.json()["access"]) == 200
    else:
        user.set_password("a-much-longer-new-secret-42")
        user.save()

    assert _refresh(phone["refresh"]).status_code == 401
    assert _refresh(tablet["refresh"]).status_code == 401
    assert _me(tablet["access"]) == 401


def test_a_deactivated_or_deleted_user_gets_401_never_500() -> None:
    inactive, deleted = UserFactory(), UserFactory()
    inactive_tokens, deleted_tokens = _sign_in(inactive), _sign_in(deleted)
    inactive.is_active = False
    inactive.save()
    deleted.delete()

    assert _refresh(inactive_tokens["refresh"]).status_code == 401
    assert _me(inactive_tokens["access"]) == 401
    assert _refresh(deleted_tokens["refresh"]).status_code == 401
    assert _me(deleted_tokens["access"]) == 401


def test_logout_blacklists_the_refresh_token() -> None:
    tokens = _sign_in(UserFactory())
    assert _post(reverse("api-v1-token-logout"), {"refresh": tokens["refresh"]}).status_code == 204
    assert _refresh(tokens["refresh"]).status_code == 401


def _unsigned(token: str) -> str:
    header = (
        base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode()).rstrip(b"=").decode()
    )
    return f"{header}.{token.split('.')[1]}."


def test_tampered_expired_and_unsigned_tokens_are_refused() -> None:
    user = UserFactory()
    access = str(AccessToken.for_user(user))
    head, payload, signature = access.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["user_id"] = str(UserFactory().pk)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    expired = AccessToken.for_user(user)
    expired.set_exp(lifetime=-timedelta(seconds=1))

    assert _me(access) == 200
    assert _me(f"{head}.{forged}.{signature}") == 401
    assert _me(str(expired)) == 401
    assert _me(_unsigned(access)) == 401
    assert _refresh(_unsigned(str(RefreshToken.for_user(user)))).status_code == 401


def test_token_guessing_is_throttled_with_retry_after_but_the_owner_signs_in_elsewhere(settings) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "token_username": "3/min",
        },
    }
    settings.AXES_FAILURE_LIMIT = 100
    cache.clear()
    user = UserFactory()
    guess = {"username": user.username, "password": "wrong"}
    answers = [_post(reverse("api-v1-token"), guess, address="203.0.113.66") for _ in range(4)]

    assert [answer.status_code for answer in answers] == [401, 401, 401, 429]
    assert int(answers[-1]["Retry-After"]) > 0
    assert answers[-1].json()["error"]["code"] == "throttled"
    assert (
        _post(
            reverse("api-v1-token"),
            {"username": user.username, "password": DEFAULT_PASSWORD},
            address="192.0.2.10",
        ).status_code
        == 200
    )


def test_a_5000_level_nested_body_and_an_oversized_body_are_400s(settings) -> None:
    nested = "[" * 5000 + "]" * 5000
    deep = Client().post(reverse("api-v1-token"), nested, content_type=JSON)
    settings.API_MAX_BODY_BYTES = 1024
    large = _post(reverse("api-v1-token"), {"username": "x" * 2000, "password": "y"})
    broken = Client().post(reverse("api-v1-token"), "{not json", content_type=JSON)

    assert deep.status_code == 400
    assert deep.json()["error"]["code"] == "too_deep"
    assert large.status_code == 400
    assert large.json()["error"]["code"] == "request_too_large"
    assert broken.status_code == 400
    assert set(broken.json()["error"]) == {"code", "message", "fields"}


def test_throttles_let_requests_through_when_redis_is_down(settings) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    user = UserFactory()
    tokens = _sign_in(user)
    assert _me(tokens["access"]) == 200


def test_invalid_fields_answer_with_field_messages() -> None:
    tokens = _sign_in(UserFactory())
    answer = _post(
        reverse("api-v1-password"), {"old_password": "nope", "new_password": "1"}, token=tokens["access"]
    )

    assert answer.status_code == 400
    fields = answer.json()["error"]["fields"]
    assert set(fields) == {"old_password", "new_password"}
