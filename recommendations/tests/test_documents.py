"""The precomputed recommendation documents: cached by version, stored in PostgreSQL, rebuilt when the
rows or the catalogue change, served from PostgreSQL when Redis is down."""

import uuid
from datetime import date
from pathlib import Path

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.tests.factories import RetailerFactory
from catalog.tests.factories import ProductFactory
from orders.models import Order, OrderLine
from recommendations import documents, refresh, training, training_runs
from recommendations.models import ModelVersion, Recommendation, RecommendationDocument
from recommendations.serializers import DOCUMENT_LIMIT, RecommendationListSerializer
from recommendations.tests.factories import (
    ModelVersionFactory,
    RecommendationFactory,
    ReorderPredictionFactory,
)
from recommendations.tests.world import build_world

pytestmark = pytest.mark.django_db

FAST = {"params": {"neural": {"epochs": 1, "dim": 8}, "factorization": {"factors": 8}}}


@pytest.fixture(autouse=True)
def own_cache(settings) -> None:
    """A key prefix of this test's own: parallel test runs share the Redis database, and their ids clash."""
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4().hex}"},
    }


@pytest.fixture
def redis_down(settings) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }


def _lists(version: ModelVersion, retailer, *, size: int) -> None:
    for rank in range(1, size + 1):
        RecommendationFactory(model_version=version, retailer=retailer, rank=rank)
        RecommendationFactory(model_version=version, retailer=retailer, rank=rank, surface="new_for_you")
        ReorderPredictionFactory(model_version=version, retailer=retailer)


@pytest.mark.parametrize("size", [1, 12])
def test_a_document_is_built_with_the_same_queries_whatever_the_list_sizes(size: int) -> None:
    version = ModelVersionFactory()
    retailer = RetailerFactory()
    _lists(version, retailer, size=size)

    with CaptureQueriesContext(connection) as queries:
        body = documents.document_for(retailer=retailer, version=version)

    # The stored row (missing), both surfaces, the due rows, the upsert; no names to look up here.
    assert len(queries) == 4
    assert len(body["for_you"]) == size
    assert len(body["new_for_you"]) == size
    assert len(body["due"]) == size
    assert RecommendationDocument.objects.get(model_version=version, retailer=retailer).body == body


def test_a_cached_document_costs_no_query_and_a_stored_one_a_single_query(django_assert_num_queries) -> None:
    version = ModelVersionFactory()
    retailer = RecommendationFactory(model_version=version).retailer
    built = documents.document_for(retailer=retailer, version=version)

    with django_assert_num_queries(0):
        assert documents.document_for(retailer=retailer, version=version) == built
    cache.delete(documents.cache_key(version_id=version.pk, retailer_id=retailer.pk))
    with django_assert_num_queries(1):
        assert documents.document_for(retailer=retailer, version=version) == built
    with django_assert_num_queries(0):
        documents.document_for(retailer=retailer, version=version)


def _read(body: dict, today: date) -> dict:
    names = ("for_you", "due", "new_for_you")
    return documents.document_lists(body, names=names, limit=DOCUMENT_LIMIT, today=today)


def test_the_items_carry_the_product_shape_reasons_and_due_facts() -> None:
    version = ModelVersionFactory()
    row = RecommendationFactory(model_version=version)
    due = ReorderPredictionFactory(model_version=version, retailer=row.retailer)
    RecommendationFactory(
        model_version=version, retailer=row.retailer, product=ProductFactory(is_active=False)
    )

    lists = _read(documents.document_for(retailer=row.retailer, version=version), timezone.localdate())

    [card] = lists["for_you"]
    assert card["product"]["id"] == row.product_id
    assert card["product"]["vendor"]["name"] == row.product.vendor.name
    assert card["sentence"] == f"Popular with 7 retailers in {row.retailer.region} in the last 30 days."
    assert card["reasons"][0]["kind"] == "popular"
    assert card["reasons"][0]["label"] == "Popular"
    [item] = lists["due"]
    assert item["product"]["id"] == due.product_id
    assert item["suggested_quantity"] == due.suggested_quantity
    assert item["expected_date"] == due.expected_date.isoformat()
    assert item["days_since_last"] == 15
    assert item["reasons"][0]["sentence"] + "." == item["sentence"]
    assert item["sentence"].endswith("last ordered " + _day(due.last_ordered) + ", 15 days ago.")


def _day(day: date) -> str:
    return f"{day.day} {day:%b}" if day.year == timezone.localdate().year else f"{day.day} {day:%b %Y}"


def test_a_document_read_on_two_days_keeps_the_dates_and_counts_the_days_to_each(
    django_assert_num_queries,
) -> None:
    version = ModelVersionFactory()
    due = ReorderPredictionFactory(model_version=version, last_ordered=date(2026, 11, 7))
    body = documents.document_for(retailer=due.retailer, version=version)

    # Putting a document into words is string work: no query, whatever the day.
    with django_assert_num_queries(0):
        on_the_22nd = _read(body, date(2026, 11, 22))["due"][0]
        a_week_later = _read(body, date(2026, 11, 29))["due"][0]

    assert on_the_22nd["sentence"] == "You order this about every 14 days; last ordered 7 Nov, 15 days ago."
    assert a_week_later["sentence"] == "You order this about every 14 days; last ordered 7 Nov, 22 days ago."
    assert (on_the_22nd["days_since_last"], a_week_later["days_since_last"]) == (15, 22)
    assert on_the_22nd["last_ordered"] == a_week_later["last_ordered"] == "2026-11-07"
    # What is stored holds the date, not a sentence or an age.
    [stored] = body["due"]
    assert "sentence" not in stored and "days_since_last" not in stored


def test_the_read_items_are_what_the_api_serializers_make_of_them() -> None:
    # The API hands the read items out without serializing them again: they must already be the
    # schema's shape, field for field.
    version = ModelVersionFactory()
    retailer = RetailerFactory()
    _lists(version, retailer, size=3)

    body = documents.document_for(retailer=retailer, version=version)
    lists = {"model_version": body["model_version"], "generated_at": body["generated_at"]}
    lists |= _read(body, timezone.localdate())

    assert RecommendationListSerializer(lists).data == lists


def test_with_redis_down_the_document_is_served_from_postgresql(
    redis_down, django_assert_num_queries
) -> None:
    version = ModelVersionFactory()
    retailer = RecommendationFactory(model_version=version).retailer

    built = documents.document_for(retailer=retailer, version=version)
    with django_assert_num_queries(1):
        assert documents.document_for(retailer=retailer, version=version) == built

    assert [item["product"]["id"] for item in built["for_you"]]


def test_a_catalogue_change_rebuilds_the_document_with_the_new_product_data(
    django_capture_on_commit_callbacks,
) -> None:
    version = ModelVersionFactory()
    row = RecommendationFactory(model_version=version)
    documents.document_for(retailer=row.retailer, version=version)

    with django_capture_on_commit_callbacks(execute=True):
        row.product.name = "Renamed teapot"
        row.product.save()

    body = documents.document_for(retailer=row.retailer, version=version)
    assert body["for_you"][0]["product"]["name"] == "Renamed teapot"
    stored = RecommendationDocument.objects.get(model_version=version, retailer=row.retailer).body
    assert stored["for_you"][0]["product"]["name"] == "Renamed teapot"


def test_a_new_version_gets_a_new_document() -> None:
    old = ModelVersionFactory()
    row = RecommendationFactory(model_version=old)
    documents.document_for(retailer=row.retailer, version=old)
    ModelVersion.objects.filter(pk=old.pk).update(status=ModelVersion.Status.RETIRED)
    new = ModelVersionFactory()
    fresh = RecommendationFactory(model_version=new, retailer=row.retailer)

    body = documents.document_for(retailer=row.retailer, version=new)

    assert body["model_version"] == new.pk
    assert [item["product"]["id"] for item in body["for_you"]] == [fresh.product_id]


def test_the_refresh_after_an_order_rebuilds_the_document(
    settings, tmp_path: Path, django_capture_on_commit_callbacks
) -> None:
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"
    world = build_world()
    run = training_runs.training_run_create(trigger="command", parameters={"hybrid": FAST})
    version = training.training_run_execute(run_id=run.pk).model_version
    retailer = world.retailers[2]
    # Stored by the precompute already: the first read is one query, not a build.
    assert RecommendationDocument.objects.filter(model_version=version, retailer=retailer).exists()
    before = documents.document_for(retailer=retailer, version=version)
    ordered = before["for_you"][0]["product"]["id"]
    order = Order.objects.create(retailer=retailer, status=Order.Status.PLACED, placed_at=timezone.now())
    OrderLine.objects.create(order=order, product_id=ordered, quantity=1, unit_price=1)

    with django_capture_on_commit_callbacks(execute=True):
        refresh.retailer_refresh(retailer_id=retailer.pk)

    after = documents.document_for(retailer=retailer, version=version)
    assert ordered not in {item["product"]["id"] for item in after["for_you"]}
    assert [item["product"]["id"] for item in after["for_you"]] == list(
        Recommendation.objects.filter(model_version=version, retailer=retailer, surface="for_you")
        .filter(product__is_active=True)
        .order_by("rank")
        .values_list("product_id", flat=True)
    )
