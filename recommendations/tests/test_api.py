"""API v1: recommendations, due for reorder ("add all due") and product detail."""

import uuid

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.tests.factories import UserFactory
from catalog.models import Product
from catalog.tests.factories import ProductFactory
from orders.models import OrderLine
from orders.tests.factories import OrderFactory, OrderLineFactory
from recommendations import explanations, feedback, publish, selectors
from recommendations.models import ModelVersion, RecommendationEvent
from recommendations.tests.factories import (
    ModelVersionFactory,
    ProductAssociationFactory,
    RecommendationFactory,
    ReorderPredictionFactory,
    SimilarProductFactory,
)
from smartbasket import read_through

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def own_cache(settings) -> None:
    """A key prefix of this test's own: parallel test runs share the Redis database, and their ids clash."""
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}}


@pytest.fixture
def buffered(monkeypatch) -> list[tuple[int, list]]:
    """The events handed to the feedback buffer, as (retailer id, events)."""
    calls: list[tuple[int, list]] = []
    monkeypatch.setattr(
        feedback, "events_buffer", lambda *, retailer_id, events: calls.append((retailer_id, list(events)))
    )
    return calls


@pytest.fixture
def user():
    return UserFactory()


@pytest.fixture
def api(user) -> APIClient:
    """Signed in with a real access token, so query counts include the sign-in lookup."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


def _ids(items: list[dict]) -> list[int]:
    return [item["product"]["id"] for item in items]


def _queries_besides_impressions(queries: CaptureQueriesContext) -> list[str]:
    """Impressions go to the feedback buffer (written synchronously only when Redis is down); not the read
    this measures."""
    return [
        query["sql"]
        for query in queries.captured_queries
        if "recommendations_recommendationevent" not in query["sql"]
        and not query["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))
    ]


def test_recommendations_list_the_retailers_own_rows_with_reasons_and_record_impressions(
    api: APIClient, user, buffered
) -> None:
    version = ModelVersionFactory()
    mine = RecommendationFactory(model_version=version, retailer=user.retailer, rank=1)
    due = ReorderPredictionFactory(model_version=version, retailer=user.retailer)
    new = RecommendationFactory(model_version=version, retailer=user.retailer, surface="new_for_you", rank=1)
    RecommendationFactory(model_version=version)

    response = api.get(reverse("api-v1-recommendations"))

    assert response.status_code == 200
    data = response.json()
    assert data["model_version"] == version.pk
    assert data["generated_at"]
    assert _ids(data["for_you"]) == [mine.product_id]
    card = data["for_you"][0]
    today = timezone.localdate()
    assert card["rank"] == 1 and card["score"] == mine.score
    assert card["sentence"] == explanations.sentence_for(mine.reasons, product_names={}, today=today)
    assert card["probability"] == mine.probability == 0.35
    assert data["new_for_you"][0]["probability"] == new.probability
    assert data["due"][0]["probability"] is None
    assert set(card["reasons"][0]) == {"kind", "label", "sentence", "weight"}
    assert set(card["product"]) >= {"id", "sku", "name", "vendor", "category", "unit_price", "is_active"}
    assert _ids(data["due"]) == [due.product_id]
    assert data["due"][0]["suggested_quantity"] == due.suggested_quantity
    # Counted from the day of the read, as the dashboard counts it.
    assert data["due"][0]["days_since_last"] == (today - due.last_ordered).days == 15
    assert data["due"][0]["sentence"] == explanations.reorder_sentence(
        cadence_days=due.cadence_days, last_ordered=due.last_ordered, today=today
    )
    assert _ids(data["new_for_you"]) == [new.product_id]
    [(retailer_id, events)] = buffered
    assert retailer_id == user.retailer.pk
    assert {(event.surface, event.kind, event.model_version_id) for event in events} == {
        ("for_you", "impression", version.pk),
        ("due", "impression", version.pk),
        ("new_for_you", "impression", version.pk),
    }


@pytest.mark.parametrize("size", [2, 15])
def test_a_cached_read_costs_no_query(api: APIClient, user, size: int) -> None:
    version = ModelVersionFactory()
    for rank in range(1, size + 1):
        RecommendationFactory(model_version=version, retailer=user.retailer, rank=rank)
        ReorderPredictionFactory(model_version=version, retailer=user.retailer)
    # The version's creation left a tombstone for the active version id (smartbasket/read_through.py); its
    # expiry, 15 seconds later, is what this skips.
    cache.delete(read_through.KEY_PREFIX + selectors.ACTIVE_VERSION_KEY)
    api.get(reverse("api-v1-recommendations"))

    with CaptureQueriesContext(connection) as queries:
        data = api.get(reverse("api-v1-recommendations")).json()

    assert len(data["for_you"]) == size
    assert _queries_besides_impressions(queries) == []


def test_a_version_flip_is_served_by_the_next_read(api: APIClient, user) -> None:
    old = ModelVersionFactory()
    RecommendationFactory(model_version=old, retailer=user.retailer, rank=1)
    cache.delete(read_through.KEY_PREFIX + selectors.ACTIVE_VERSION_KEY)
    before = api.get(reverse("api-v1-recommendations")).json()
    new = ModelVersionFactory(status=ModelVersion.Status.CANDIDATE)
    RecommendationFactory(model_version=new, retailer=user.retailer, rank=1)

    publish.model_version_activate(version=new)
    after = api.get(reverse("api-v1-recommendations")).json()

    assert (before["model_version"], after["model_version"]) == (old.pk, new.pk)


def test_kind_and_limit_pick_and_cut_one_list(api: APIClient, user) -> None:
    version = ModelVersionFactory()
    rows = [RecommendationFactory(model_version=version, retailer=user.retailer, rank=r) for r in (1, 2, 3)]
    ReorderPredictionFactory(model_version=version, retailer=user.retailer)

    data = api.get(reverse("api-v1-recommendations"), {"kind": "for_you", "limit": 2}).json()

    assert set(data) == {"model_version", "generated_at", "for_you"}
    assert _ids(data["for_you"]) == [row.product_id for row in rows[:2]]
    assert set(api.get(reverse("api-v1-recommendations"), {"kind": "new"}).json()) == {
        "model_version",
        "generated_at",
        "new_for_you",
    }


@pytest.mark.parametrize(
    ("params", "field"),
    [({"limit": 0}, "limit"), ({"limit": 51}, "limit"), ({"limit": "x"}, "limit"), ({"kind": "all"}, "kind")],
)
def test_invalid_kind_or_limit_is_a_400_naming_the_field(api: APIClient, params: dict, field: str) -> None:
    response = api.get(reverse("api-v1-recommendations"), params)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert field in response.json()["error"]["fields"]


def test_without_an_active_version_or_any_order_the_cold_start_lists_are_empty(api: APIClient) -> None:
    answer = api.get(reverse("api-v1-recommendations")).json()

    assert answer["model_version"] is None
    assert (answer["for_you"], answer["due"], answer["new_for_you"]) == ([], [], [])
    assert api.get(reverse("api-v1-due")).json()["due"] == []


def test_redis_down_still_serves_the_recommendations(api: APIClient, user, settings) -> None:
    version = ModelVersionFactory()
    mine = RecommendationFactory(model_version=version, retailer=user.retailer)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }

    response = api.get(reverse("api-v1-recommendations"))

    assert response.status_code == 200
    assert _ids(response.json()["for_you"]) == [mine.product_id]


def test_the_due_list_is_soonest_first(api: APIClient, user) -> None:
    version = ModelVersionFactory()
    due = ReorderPredictionFactory(model_version=version, retailer=user.retailer)

    data = api.get(reverse("api-v1-due")).json()

    assert _ids(data["due"]) == [due.product_id]
    assert data["due"][0]["cadence_days"] == due.cadence_days
    assert data["due"][0]["last_ordered"] == due.last_ordered.isoformat()


def test_adding_all_due_puts_each_suggested_quantity_in_the_basket_and_skips_the_rest(
    api: APIClient, user
) -> None:
    version = ModelVersionFactory()
    first = ReorderPredictionFactory(model_version=version, retailer=user.retailer, suggested_quantity=6)
    second = ReorderPredictionFactory(model_version=version, retailer=user.retailer, suggested_quantity=2)
    api.get(reverse("api-v1-due"))
    # Discontinued after the list was cached: reported, not added.
    Product.objects.filter(pk=second.product_id).update(is_active=False)
    stranger = ProductFactory()

    response = api.post(
        reverse("api-v1-due-add"),
        {"product_ids": [first.product_id, second.product_id, stranger.pk]},
        format="json",
    )

    assert response.status_code == 200
    data = response.json()
    assert [(row["product"]["id"], row["quantity"]) for row in data["added"]] == [(first.product_id, 6)]
    assert {row["product_id"]: row["reason"] for row in data["skipped"]} == {
        second.product_id: "discontinued",
        stranger.pk: "not_due",
    }
    assert data["basket_line_count"] == 1
    lines = OrderLine.objects.filter(order__retailer=user.retailer, order__status="draft")
    assert list(lines.values_list("product_id", "quantity")) == [(first.product_id, 6)]


def test_adding_due_without_a_body_adds_every_due_product(api: APIClient, user) -> None:
    version = ModelVersionFactory()
    rows = [ReorderPredictionFactory(model_version=version, retailer=user.retailer) for _ in range(2)]

    data = api.post(reverse("api-v1-due-add"), {}, format="json").json()

    assert sorted(row["product"]["id"] for row in data["added"]) == sorted(row.product_id for row in rows)
    assert data["basket_line_count"] == 2


def test_adding_due_is_the_portal_service_keeping_basket_quantities_and_recording_the_adds(
    api: APIClient, user
) -> None:
    version = ModelVersionFactory()
    kept = ReorderPredictionFactory(model_version=version, retailer=user.retailer, suggested_quantity=6)
    added = ReorderPredictionFactory(model_version=version, retailer=user.retailer, suggested_quantity=3)
    basket = OrderFactory(retailer=user.retailer, basket=True)
    OrderLineFactory(order=basket, product=kept.product, quantity=2)

    data = api.post(reverse("api-v1-due-add"), {}, format="json").json()

    assert [(row["product"]["id"], row["quantity"]) for row in data["added"]] == [(added.product_id, 3)]
    assert [(row["product_id"], row["reason"]) for row in data["skipped"]] == [
        (kept.product_id, "already_in_basket")
    ]
    lines = OrderLine.objects.filter(order__retailer=user.retailer, order__status="draft")
    assert dict(lines.values_list("product_id", "quantity")) == {kept.product_id: 2, added.product_id: 3}
    assert list(RecommendationEvent.objects.values_list("product_id", "surface", "kind")) == [
        (added.product_id, "due", "add")
    ]


def test_adding_due_with_an_invalid_body_is_a_400(api: APIClient) -> None:
    response = api.post(reverse("api-v1-due-add"), {"product_ids": "all"}, format="json")

    assert response.status_code == 400
    assert "product_ids" in response.json()["error"]["fields"]


def test_product_detail_has_related_products_with_counts_and_sentences(
    api: APIClient, user, buffered
) -> None:
    teapot, cups, saucers = ProductFactory(name="Teapot"), ProductFactory(name="Tea cups"), ProductFactory()
    ProductAssociationFactory(product=teapot, other=cups, rank=1)
    SimilarProductFactory(product=teapot, other=saucers, similarity=0.4, rank=1)
    SimilarProductFactory(product=teapot, other=ProductFactory(is_active=False), similarity=0.3, rank=2)

    data = api.get(reverse("api-v1-product-detail", args=[teapot.pk])).json()

    assert data["product"]["name"] == "Teapot"
    [together] = data["bought_together"]
    assert (together["product"]["name"], together["together"], together["product_orders"]) == (
        "Tea cups",
        212,
        1340,
    )
    assert "212 of 1,340" in together["sentence"]
    assert [row["product"]["id"] for row in data["similar"]] == [saucers.pk]
    assert data["similar"][0]["sentence"].startswith("40% match")
    [(retailer_id, events)] = buffered
    assert (retailer_id, {event.surface for event in events}) == (
        user.retailer.pk,
        {"bought_together", "similar"},
    )


def test_product_detail_queries_do_not_grow_with_the_related_lists(api: APIClient) -> None:
    # Both measured reads find the user's row cached (accounts/user_cache.py).
    api.get(reverse("api-v1-me"))
    counts = []
    for size in (1, 6):
        product = ProductFactory()
        for rank in range(1, size + 1):
            ProductAssociationFactory(product=product, rank=rank)
            SimilarProductFactory(product=product, rank=rank)
        with CaptureQueriesContext(connection) as queries:
            assert api.get(reverse("api-v1-product-detail", args=[product.pk])).status_code == 200
        counts.append(len(_queries_besides_impressions(queries)))
    assert counts[0] == counts[1]


def test_an_unknown_product_is_a_404(api: APIClient) -> None:
    response = api.get(reverse("api-v1-product-detail", args=[999_999]))

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


ENDPOINTS = [
    ("get", "api-v1-recommendations", []),
    ("get", "api-v1-due", []),
    ("post", "api-v1-due-add", []),
    ("get", "api-v1-product-detail", [1]),
]


@pytest.mark.parametrize(("method", "name", "args"), ENDPOINTS, ids=[e[1] for e in ENDPOINTS])
def test_anonymous_clients_get_401_and_vendors_403(method: str, name: str, args: list) -> None:
    client = APIClient()
    assert getattr(client, method)(reverse(name, args=args)).status_code == 401
    client.force_authenticate(UserFactory(vendor_member=True))
    assert getattr(client, method)(reverse(name, args=args)).status_code == 403


def test_a_retailer_never_receives_another_retailers_lists(api: APIClient, user) -> None:
    version = ModelVersionFactory()
    theirs = UserFactory()
    RecommendationFactory(model_version=version, retailer=theirs.retailer)
    due = ReorderPredictionFactory(model_version=version, retailer=theirs.retailer)
    RecommendationFactory(model_version=version, retailer=theirs.retailer, surface="new_for_you")
    other = APIClient()
    other.force_authenticate(theirs)
    assert other.get(reverse("api-v1-recommendations")).json()["for_you"]

    data = api.get(reverse("api-v1-recommendations")).json()
    added = api.post(reverse("api-v1-due-add"), {"product_ids": [due.product_id]}, format="json").json()

    assert data["for_you"] == data["due"] == data["new_for_you"] == []
    assert added["added"] == [] and added["skipped"][0]["reason"] == "not_due"
    assert not OrderLine.objects.filter(order__retailer=user.retailer).exists()
