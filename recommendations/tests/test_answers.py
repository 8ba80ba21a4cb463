"""The recommendation API's answers kept as bytes in Redis (recommendations/answers.py): served in one round
trip while the document, the day and the catalogue are the same, made anew when any of them changes, with
every read's impressions recorded, and made from PostgreSQL when Redis is down."""

import json
from datetime import date, timedelta

import pytest
import redis
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from accounts.tests.factories import RetailerFactory
from catalog.stamp import catalogue_stamp_bump
from recommendations import answers, documents, feedback
from recommendations.api import LIST_SURFACES
from recommendations.models import ModelVersion, Recommendation, RecommendationEvent
from recommendations.tests.factories import (
    ModelVersionFactory,
    RecommendationFactory,
    ReorderPredictionFactory,
)

pytestmark = pytest.mark.django_db

NAMES = ("for_you", "due", "new_for_you")


def _world() -> tuple[ModelVersion, object]:
    version = ModelVersionFactory()
    retailer = RetailerFactory()
    for rank in (1, 2):
        RecommendationFactory(model_version=version, retailer=retailer, rank=rank)
        RecommendationFactory(model_version=version, retailer=retailer, rank=rank, surface="new_for_you")
    ReorderPredictionFactory(
        model_version=version, retailer=retailer, last_ordered=timezone.localdate() - timedelta(days=20)
    )
    return version, retailer


def _read(version: ModelVersion, retailer, *, today: date | None = None, limit: int = 20) -> bytes:
    return answers.answer_read(
        retailer=retailer,
        version_id=version.pk,
        names=NAMES,
        limit=limit,
        today=today or timezone.localdate(),
        surfaces=LIST_SURFACES,
    )


def _queued_impressions(client: redis.Redis) -> list[dict]:
    key = feedback.buffer_key(feedback.EVENTS_QUEUE)
    return [payload for item in client.lrange(key, 0, -1) for payload in json.loads(item)]


def test_an_answer_is_what_the_document_reads_as_for_the_day(buffered) -> None:
    version, retailer = _world()
    today = timezone.localdate()

    body = _read(version, retailer)

    document = documents.document_for(retailer=retailer, version=version)
    expected = {
        "model_version": version.pk,
        "generated_at": document["generated_at"],
        **documents.document_lists(document, names=NAMES, limit=20, today=today),
    }
    assert body == JSONRenderer().render(expected)
    assert json.loads(body)["due"][0]["days_since_last"] == 20


def test_a_second_read_costs_no_query_and_records_its_impressions_with_its_own_time(
    buffered, django_assert_num_queries
) -> None:
    version, retailer = _world()
    first = _read(version, retailer)
    shown = len(_queued_impressions(buffered))
    assert shown == 5  # two for you, two new for you, one due

    with django_assert_num_queries(0):
        second = _read(version, retailer)

    assert second == first
    impressions = _queued_impressions(buffered)
    assert len(impressions) == 2 * shown
    repeat = impressions[shown:]
    assert {(item["product_id"], item["surface"]) for item in repeat} == {
        (item["product_id"], item["surface"]) for item in impressions[:shown]
    }
    for item in repeat:
        assert item["retailer_id"] == retailer.pk
        assert item["model_version_id"] == version.pk
        assert item["kind"] == "impression"
        assert item["created_at"] != feedback.NOW_PLACEHOLDER
        assert abs(timezone.now() - timezone.datetime.fromisoformat(item["created_at"])) < timedelta(
            minutes=1
        )


def test_the_queued_impressions_are_written_by_the_flush(buffered) -> None:
    version, retailer = _world()
    _read(version, retailer)
    _read(version, retailer)

    feedback.feedback_flush(max_batches=10)

    # Both reads' impressions: the one that rendered the answer and the one served from the cache.
    assert RecommendationEvent.objects.filter(retailer=retailer, kind="impression").count() == 10


def test_the_next_day_puts_the_lists_into_that_days_words(buffered) -> None:
    version, retailer = _world()
    today = timezone.localdate()
    _read(version, retailer, today=today)

    tomorrow = json.loads(_read(version, retailer, today=today + timedelta(days=1)))

    assert tomorrow["due"][0]["days_since_last"] == 21
    assert json.loads(_read(version, retailer, today=today))["due"][0]["days_since_last"] == 20


def test_each_limit_is_an_answer_of_its_own(buffered) -> None:
    version, retailer = _world()

    short = json.loads(_read(version, retailer, limit=1))
    full = json.loads(_read(version, retailer, limit=20))

    assert [len(short[name]) for name in NAMES] == [1, 1, 1]
    assert [len(full[name]) for name in NAMES] == [2, 1, 2]


def test_a_rebuilt_document_is_answered_anew(buffered, django_capture_on_commit_callbacks) -> None:
    version, retailer = _world()
    before = json.loads(_read(version, retailer))
    added = RecommendationFactory(model_version=version, retailer=retailer, rank=3)

    with django_capture_on_commit_callbacks(execute=True):
        documents.document_rebuild(retailer_id=retailer.pk, version=version)

    after = json.loads(_read(version, retailer))
    assert len(after["for_you"]) == len(before["for_you"]) + 1
    assert after["for_you"][-1]["product"]["id"] == added.product_id


def test_a_catalogue_change_is_answered_with_the_new_product_data(
    buffered, django_capture_on_commit_callbacks
) -> None:
    version, retailer = _world()
    _read(version, retailer)
    row = Recommendation.objects.get(model_version=version, retailer=retailer, surface="for_you", rank=1)

    with django_capture_on_commit_callbacks(execute=True):
        row.product.name = "Renamed teapot"
        row.product.save()

    assert json.loads(_read(version, retailer))["for_you"][0]["product"]["name"] == "Renamed teapot"


def test_a_stamp_bump_alone_makes_the_next_read_go_to_the_document(
    buffered, django_assert_num_queries
) -> None:
    version, retailer = _world()
    _read(version, retailer)
    catalogue_stamp_bump()

    with CaptureQueriesContext(connection) as queries:
        _read(version, retailer)

    assert len(queries) >= 1
    with django_assert_num_queries(0):
        _read(version, retailer)


def test_two_retailers_never_get_each_others_answers(buffered) -> None:
    version, retailer = _world()
    other = RecommendationFactory(model_version=version, rank=1).retailer

    mine = json.loads(_read(version, retailer))
    theirs = json.loads(_read(version, other))

    assert {item["product"]["id"] for item in mine["for_you"]}.isdisjoint(
        {item["product"]["id"] for item in theirs["for_you"]}
    )
    assert json.loads(_read(version, retailer)) == mine


def test_with_redis_down_the_answer_is_made_from_postgresql_and_its_impressions_written(redis_down) -> None:
    version, retailer = _world()

    body = json.loads(_read(version, retailer))

    assert [item["product"]["id"] for item in body["for_you"]]
    assert RecommendationEvent.objects.filter(retailer=retailer, kind="impression").count() == 5
