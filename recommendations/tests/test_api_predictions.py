"""Next-item predictions, the prediction history and feedback batches under /api/v1/."""

import pytest
from django.core.cache import cache
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory
from catalog.tests.factories import ProductFactory
from orders.tests.factories import OrderFactory, OrderLineFactory
from recommendations import feedback, selectors
from recommendations.models import Prediction, RecommendationEvent
from recommendations.tasks import flush_feedback
from recommendations.tests.factories import ModelVersionFactory, ProductAssociationFactory
from smartbasket import read_through

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return UserFactory()


@pytest.fixture
def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def world():
    """Two basket products, each often bought with one other product."""
    version = ModelVersionFactory()
    jam, tea, scones, cups = (ProductFactory(name=name) for name in ("Jam", "Tea", "Scones", "Cups"))
    ProductAssociationFactory(product=jam, other=scones, lift=3.2, rank=0)
    ProductAssociationFactory(product=tea, other=cups, lift=2.0, rank=0)
    ProductAssociationFactory(product=jam, other=tea, lift=5.0, rank=1)
    return {"version": version, "jam": jam, "tea": tea, "scones": scones, "cups": cups}


def next_item(api: APIClient, body: dict):
    return api.post(reverse("api-v1-next-item"), body, format="json")


def test_next_item_ranks_what_completes_the_given_products_with_reasons(buffered, api, world) -> None:
    response = next_item(api, {"product_ids": [world["jam"].pk, world["tea"].pk], "limit": 5})

    assert response.status_code == 200
    body = response.json()
    assert body["model_version"] == world["version"].pk
    assert body["basket"] == [world["jam"].pk, world["tea"].pk]
    assert [item["product"]["id"] for item in body["results"]] == [world["scones"].pk, world["cups"].pk]
    first = body["results"][0]
    assert first["rank"] == 1
    assert first["product"]["vendor"]["name"]
    assert first["reasons"][0]["kind"] == "bought_with"
    assert first["reasons"][0]["label"] == "Bought together"
    assert "Bought with Jam in 212 of 1,340 orders" in first["sentence"]
    assert not Prediction.objects.exists()


def test_next_item_completes_the_basket_when_no_products_are_given(buffered, api, user, world) -> None:
    basket = OrderFactory(retailer=user.retailer, basket=True)
    OrderLineFactory(order=basket, product=world["tea"])

    posted = next_item(api, {"limit": 1}).json()
    got = api.get(reverse("api-v1-next-item"), {"limit": 3}).json()

    assert posted["basket"] == got["basket"] == [world["tea"].pk]
    assert [item["product"]["id"] for item in posted["results"]] == [world["cups"].pk]
    assert [item["product"]["id"] for item in got["results"]] == [world["cups"].pk]


def test_the_unslashed_seed_path_answers_a_post(buffered, api, world) -> None:
    response = api.post(
        reverse("api-v1-next-item-unslashed"), {"product_ids": [world["tea"].pk]}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["results"][0]["product"]["id"] == world["cups"].pk


@pytest.mark.parametrize(
    "body",
    [{"limit": 0}, {"limit": 51}, {"product_ids": list(range(1, 102))}, {"product_ids": ["x"]}],
)
def test_next_item_refuses_bad_limits_and_lists(buffered, api, world, body) -> None:
    response = next_item(api, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


def test_a_bad_limit_in_the_query_string_is_a_400(buffered, api) -> None:
    response = api.get(reverse("api-v1-next-item"), {"limit": "abc"})
    assert response.status_code == 400
    assert "limit" in response.json()["error"]["fields"]


def test_unknown_or_discontinued_products_are_field_errors(buffered, api, world) -> None:
    gone = ProductFactory(is_active=False)
    response = next_item(api, {"product_ids": [world["jam"].pk, gone.pk, 10**8]})
    assert response.status_code == 400
    message = response.json()["error"]["fields"]["product_ids"][0]
    assert str(gone.pk) in message and str(10**8) in message and str(world["jam"].pk) not in message


def test_next_item_costs_the_same_queries_for_one_or_twenty_products(
    buffered,
    api,
    world,
    django_assert_max_num_queries,
) -> None:
    many = [ProductFactory() for _ in range(20)]
    for index, product in enumerate(many):
        ProductAssociationFactory(product=product, other=world["scones"], rank=index)
        ProductAssociationFactory(product=product, other=ProductFactory(), rank=index + 20)

    # Cold: the user, the active version id and its completion weights, the products, the association rows
    # and the vectors; the user and the weights are then cached.
    with django_assert_max_num_queries(6):
        assert next_item(api, {"product_ids": [world["jam"].pk]}).status_code == 200
    with django_assert_max_num_queries(5):
        assert next_item(api, {"product_ids": [p.pk for p in many]}).status_code == 200
    # Warm: the rows come from Redis; the active version id is read from PostgreSQL only while the
    # factories' tombstone lasts (smartbasket/read_through.py).
    with django_assert_max_num_queries(1):
        assert next_item(api, {"product_ids": [p.pk for p in many]}).status_code == 200


def test_with_redis_down_next_item_still_answers_and_is_recorded(redis_down, api, world) -> None:
    response = next_item(api, {"product_ids": [world["tea"].pk]})
    assert response.status_code == 200
    assert response.json()["results"][0]["product"]["id"] == world["cups"].pk
    assert Prediction.objects.get().input_product_ids == [world["tea"].pk]
    assert RecommendationEvent.objects.filter(surface="basket", kind="impression").count() == 1


def test_the_history_shows_a_prediction_just_made_and_only_the_retailers_own(buffered, api, world) -> None:
    other = APIClient()
    other.force_authenticate(UserFactory())
    next_item(other, {"product_ids": [world["jam"].pk]})
    next_item(api, {"product_ids": [world["tea"].pk], "limit": 1})

    page = api.get(reverse("api-v1-predictions")).json()

    assert page["count"] == 1
    entry = page["results"][0]
    assert entry["input_product_ids"] == [world["tea"].pk]
    assert entry["model_version"] == world["version"].pk
    assert entry["results"][0]["product_id"] == world["cups"].pk
    assert entry["results"][0]["rank"] == 1
    # Its impressions wait for the task: the history flushes only the predictions.
    feedback.feedback_flush(max_batches=5)
    assert RecommendationEvent.objects.filter(
        product=world["cups"], kind="impression", surface="basket"
    ).exists()


def test_the_history_is_newest_first(buffered, api, world) -> None:
    next_item(api, {"product_ids": [world["jam"].pk]})
    next_item(api, {"product_ids": [world["tea"].pk]})
    page = api.get(reverse("api-v1-predictions"), {"page_size": 1}).json()
    assert page["count"] == 2
    assert page["results"][0]["input_product_ids"] == [world["tea"].pk]


def test_a_feedback_batch_queues_valid_events_and_names_the_refused(buffered, api, world, user) -> None:
    version = world["version"].pk
    scones = world["scones"].pk
    events = [
        {"kind": "impression", "product_id": scones, "surface": "basket", "model_version": version},
        {"kind": "click", "product_id": scones, "surface": "basket", "model_version": version},
        {"kind": "click", "product_id": scones, "surface": "basket"},
        {"kind": "add", "product_id": 10**8, "surface": "basket", "model_version": version},
        {"kind": "impression", "product_id": scones, "surface": "basket", "model_version": 10**8},
        {
            "kind": "impression",
            "product_id": scones,
            "surface": "basket",
            "occurred_at": "2001-01-01T00:00:00Z",
        },
    ]
    response = api.post(reverse("api-v1-feedback"), {"events": events}, format="json")

    assert response.status_code == 202
    assert response.json() == {
        "accepted": 2,
        "rejected": [
            {"index": 2, "reason": "not_tracked"},
            {"index": 3, "reason": "unknown_product"},
            {"index": 4, "reason": "unknown_model_version"},
            {"index": 5, "reason": "too_old"},
        ],
    }
    assert not RecommendationEvent.objects.exists()
    feedback.feedback_flush(max_batches=5)
    stored = RecommendationEvent.objects.filter(retailer=user.retailer, product_id=scones)
    assert sorted(stored.values_list("kind", flat=True)) == ["click", "impression"]


@pytest.mark.parametrize(
    "body",
    [
        {"events": []},
        {"events": [{"kind": "view", "product_id": 1, "surface": "basket"}]},
        {"events": [{"kind": "click", "product_id": 1, "surface": "moon"}]},
        {"events": [{"kind": "impression", "product_id": 1, "surface": "basket"}] * 201},
    ],
)
def test_a_malformed_feedback_batch_is_a_400(buffered, api, body) -> None:
    response = api.post(reverse("api-v1-feedback"), body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


ENDPOINTS = [
    ("post", "api-v1-next-item"),
    ("get", "api-v1-next-item"),
    ("post", "api-v1-next-item-unslashed"),
    ("get", "api-v1-predictions"),
    ("post", "api-v1-feedback"),
]


@pytest.mark.parametrize(("method", "name"), ENDPOINTS)
def test_anonymous_callers_get_401_and_vendors_403(buffered, method, name) -> None:
    anonymous = APIClient()
    assert getattr(anonymous, method)(reverse(name), {}, format="json").status_code == 401
    vendor = APIClient()
    vendor.force_authenticate(UserFactory(vendor_member=True))
    assert getattr(vendor, method)(reverse(name), {}, format="json").status_code == 403


def test_a_repeated_basket_is_answered_from_its_cached_answer_and_recorded_each_time(
    buffered, api, world, django_assert_num_queries
) -> None:
    body = {"product_ids": [world["jam"].pk, world["tea"].pk], "limit": 5}
    # The world's version left a tombstone for the active version id; its expiry is what this skips.
    cache.delete(read_through.KEY_PREFIX + selectors.ACTIVE_VERSION_KEY)
    first = next_item(api, body).json()

    with django_assert_num_queries(0):
        again = next_item(api, body).json()

    assert again == first
    flush_feedback()
    assert Prediction.objects.count() == 2
    assert RecommendationEvent.objects.filter(surface="basket", kind="impression").count() == 4


def test_a_price_change_or_a_withdrawn_product_is_in_the_next_answer(
    buffered, api, world, django_capture_on_commit_callbacks
) -> None:
    body = {"product_ids": [world["jam"].pk, world["tea"].pk], "limit": 5}
    before = next_item(api, body).json()
    scones, cups = world["scones"], world["cups"]

    with django_capture_on_commit_callbacks(execute=True):
        scones.unit_price = "9.99"
        scones.save()
    repriced = next_item(api, body).json()
    with django_capture_on_commit_callbacks(execute=True):
        cups.is_active = False
        cups.save()
    withdrawn = next_item(api, body).json()

    assert [item["product"]["id"] for item in before["results"]] == [scones.pk, cups.pk]
    assert repriced["results"][0]["product"]["unit_price"] == "9.99"
    assert [item["product"]["id"] for item in withdrawn["results"]] == [scones.pk]
