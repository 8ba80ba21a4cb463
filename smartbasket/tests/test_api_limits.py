"""Every kind of API failure answers in the one error shape, with the right status and headers; hostile
bodies and a Redis outage never become a 500."""

import io
import json
import time
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from rest_framework.exceptions import ParseError
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import User
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from smartbasket.api.parsers import BoundedJSONParser

pytestmark = pytest.mark.django_db
JSON = "application/json"
CLOSED_PORT_CACHE = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
    }
}


@pytest.fixture(autouse=True)
def _fresh_throttles() -> None:
    cache.clear()


def _bearer(user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {RefreshToken.for_user(user).access_token}"}


def _token(body: str | bytes, **extra: object) -> object:
    return Client().post(reverse("api-v1-token"), body, content_type=JSON, **extra)


def _assert_shape(answer: object, status: int, code: str) -> dict:
    assert answer.status_code == status, answer.content[:300]
    body = answer.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


def _rates(settings: object, **rates: str) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], **rates},
    }


def test_a_missing_field_is_a_validation_error_with_field_messages() -> None:
    error = _assert_shape(_token(json.dumps({"username": "someone"})), 400, "validation_error")

    assert list(error["fields"]) == ["password"]


def test_no_token_is_not_authenticated_and_a_garbage_token_is_token_not_valid() -> None:
    anonymous = Client().get(reverse("api-v1-me"))
    garbage = Client().get(reverse("api-v1-me"), headers={"Authorization": "Bearer not.a.token"})

    _assert_shape(anonymous, 401, "not_authenticated")
    _assert_shape(garbage, 401, "token_not_valid")
    assert garbage["WWW-Authenticate"].startswith("Bearer")


def test_a_vendor_on_a_retailer_endpoint_is_permission_denied() -> None:
    answer = Client().get(reverse("api-v1-basket"), headers=_bearer(UserFactory(vendor_member=True)))

    _assert_shape(answer, 403, "permission_denied")


def test_an_unknown_path_is_not_found() -> None:
    _assert_shape(Client().get("/api/v1/no-such-thing/"), 404, "not_found")


def test_a_wrong_method_is_method_not_allowed() -> None:
    _assert_shape(Client().get(reverse("api-v1-token")), 405, "method_not_allowed")


def test_a_form_body_is_unsupported_media_type() -> None:
    answer = Client().post(reverse("api-v1-token"), {"username": "a", "password": "b"})

    _assert_shape(answer, 415, "unsupported_media_type")


def test_invalid_json_invalid_utf8_and_nan_are_parse_errors() -> None:
    _assert_shape(_token("{not json"), 400, "parse_error")
    _assert_shape(_token(b'{"username": "\xff\xfe", "password": "x"}'), 400, "parse_error")
    _assert_shape(_token('{"username": "a", "password": NaN}'), 400, "parse_error")


def test_a_5000_level_nested_body_is_a_400_and_nesting_within_the_limit_is_parsed(settings) -> None:
    settings.API_MAX_JSON_DEPTH = 8
    within = {"username": "a", "password": "b", "extra": json.loads("[" * 7 + "]" * 7)}

    _assert_shape(_token("[" * 5000 + "]" * 5000), 400, "too_deep")
    _assert_shape(_token('{"a": ' + "{" * 5000 + "}" * 5000 + "}"), 400, "too_deep")
    _assert_shape(_token('["' + "[" * 5000), 400, "too_deep")
    assert _token(json.dumps(within)).status_code == 401


def test_brackets_inside_strings_do_not_count_as_nesting(settings) -> None:
    settings.API_MAX_JSON_DEPTH = 2
    body = json.dumps({"username": "[[[[{{{{" * 10, "password": 'x\\"[[[['})

    assert _token(body).status_code == 401


def test_a_body_over_the_limit_is_a_400_whether_declared_or_read(settings) -> None:
    settings.API_MAX_BODY_BYTES = 1024
    big = json.dumps({"username": "x" * 2000, "password": "y"})
    declared = SimpleNamespace(META={"CONTENT_LENGTH": "2000000"})

    _assert_shape(_token(big), 400, "request_too_large")
    with pytest.raises(ParseError) as refused:
        BoundedJSONParser().parse(io.BytesIO(b"{}"), JSON, {"request": declared})
    assert refused.value.detail.code == "request_too_large"


def test_an_over_long_username_is_a_400_not_a_database_error() -> None:
    error = _assert_shape(
        _token(json.dumps({"username": "u" * 800, "password": "p"})), 400, "validation_error"
    )

    assert list(error["fields"]) == ["username"]


def test_too_many_requests_is_throttled_with_retry_after(settings) -> None:
    _rates(settings, user="2/min")
    user = UserFactory()
    headers = _bearer(user)
    answers = [Client().get(reverse("api-v1-me"), headers=headers) for _ in range(3)]

    assert [answer.status_code for answer in answers[:2]] == [200, 200]
    _assert_shape(answers[2], 429, "throttled")
    assert 0 < int(answers[2]["Retry-After"]) <= 60


def test_a_throttle_keeps_one_counter_per_window_whatever_the_rate(settings) -> None:
    # DRF's own throttle caches a list of every request's time in the window, rewritten at each request.
    _rates(settings, user="100000/min")
    user = UserFactory()
    headers = _bearer(user)
    first = int(time.time() // 60)
    for _ in range(5):
        Client().get(reverse("api-v1-me"), headers=headers)
    last = int(time.time() // 60)

    # Counted in one integer (two when the five requests straddled a minute's edge).
    assert sum(cache.get(f"throttle_user_{user.pk}:{window}", 0) for window in {first, last}) == 5


def test_the_sign_in_address_cap_does_not_spend_the_refresh_budget(settings) -> None:
    _rates(settings, token_address="2/min")
    user = UserFactory()
    tokens = [
        Client().post(
            reverse("api-v1-token"),
            json.dumps({"username": user.username, "password": DEFAULT_PASSWORD}),
            content_type=JSON,
        )
        for _ in range(3)
    ]
    refresh = Client().post(
        reverse("api-v1-token-refresh"),
        json.dumps({"refresh": tokens[0].json()["refresh"]}),
        content_type=JSON,
    )

    assert [answer.status_code for answer in tokens] == [200, 200, 429]
    assert refresh.status_code == 200


def test_the_lockout_answer_on_the_api_uses_the_error_shape(settings) -> None:
    settings.AXES_FAILURE_LIMIT = 2
    user = UserFactory()
    wrong = json.dumps({"username": user.username, "password": "wrong"})
    for _ in range(2):
        Client(REMOTE_ADDR="203.0.113.9").post(reverse("api-v1-token"), wrong, content_type=JSON)

    locked = Client(REMOTE_ADDR="203.0.113.9").post(reverse("api-v1-token"), wrong, content_type=JSON)

    _assert_shape(locked, 429, "locked_out")
    assert int(locked["Retry-After"]) > 0


def test_with_redis_down_every_throttled_endpoint_still_answers(settings) -> None:
    user = UserFactory()
    settings.CACHES = CLOSED_PORT_CACHE

    signed_in = Client().post(
        reverse("api-v1-token"),
        json.dumps({"username": user.username, "password": DEFAULT_PASSWORD}),
        content_type=JSON,
    )
    refreshed = Client().post(
        reverse("api-v1-token-refresh"),
        json.dumps({"refresh": signed_in.json()["refresh"]}),
        content_type=JSON,
    )
    me = Client().get(reverse("api-v1-me"), headers={"Authorization": f"Bearer {refreshed.json()['access']}"})

    assert (signed_in.status_code, refreshed.status_code, me.status_code) == (200, 200, 200)
