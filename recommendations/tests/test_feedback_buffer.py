"""Feedback and predictions buffered in Redis and written in batches by `flush_feedback`."""

import importlib
import json
from datetime import timedelta

import pytest
from django.apps import apps
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from accounts.tests.factories import RetailerFactory
from catalog.tests.factories import ProductFactory
from recommendations import feedback, predictions, tasks
from recommendations.feedback import Event, Kind, Surface
from recommendations.models import Prediction, RecommendationEvent
from recommendations.tests.factories import ModelVersionFactory, RecommendationEventFactory

pytestmark = pytest.mark.django_db


def impression(product_id: int, version_id: int | None, **extra) -> Event:
    return Event(product_id, Surface.BASKET, Kind.IMPRESSION, version_id, **extra)


def test_buffered_events_are_written_only_by_the_flush_with_their_own_time(buffered) -> None:
    retailer, product, version = RetailerFactory(), ProductFactory(), ModelVersionFactory()
    shown_at = timezone.now() - timedelta(hours=3)

    feedback.events_buffer(
        retailer_id=retailer.pk, events=[impression(product.pk, version.pk, occurred_at=shown_at)]
    )
    assert not RecommendationEvent.objects.exists()
    assert buffered.llen(feedback.buffer_key(feedback.EVENTS_QUEUE)) == 1

    assert feedback.feedback_flush(max_batches=5) == 1
    row = RecommendationEvent.objects.get()
    assert (row.retailer, row.product, row.model_version, row.kind) == (
        retailer,
        product,
        version,
        "impression",
    )
    assert row.created_at == shown_at
    assert buffered.llen(feedback.buffer_key(feedback.EVENTS_QUEUE)) == 0


def test_a_crash_between_pop_and_insert_loses_no_event(buffered, monkeypatch) -> None:
    retailer, product = RetailerFactory(), ProductFactory()
    feedback.events_buffer(retailer_id=retailer.pk, events=[impression(product.pk, None)] * 3)

    def crash(payloads: list) -> int:
        raise RuntimeError("worker killed")

    monkeypatch.setattr(feedback, "events_write", crash)
    with pytest.raises(RuntimeError):
        feedback.feedback_flush(max_batches=5)
    # The request's one push, with its three events, waits in the processing list.
    assert buffered.llen(feedback.buffer_key(feedback.EVENTS_QUEUE, "processing")) == 1
    monkeypatch.undo()

    assert feedback.feedback_flush(max_batches=5) == 3
    assert RecommendationEvent.objects.count() == 3
    assert buffered.llen(feedback.buffer_key(feedback.EVENTS_QUEUE, "processing")) == 0


def test_a_push_queued_before_the_pushes_became_lists_is_still_written(buffered) -> None:
    retailer, product = RetailerFactory(), ProductFactory()
    payload = feedback.event_payload(
        retailer_id=retailer.pk, event=impression(product.pk, None), now=timezone.now()
    )
    buffered.rpush(feedback.buffer_key(feedback.EVENTS_QUEUE), json.dumps(payload))

    assert feedback.feedback_flush(max_batches=1) == 1
    assert RecommendationEvent.objects.filter(retailer=retailer, product=product).count() == 1


def test_without_redis_events_are_written_synchronously(redis_down) -> None:
    retailer, product = RetailerFactory(), ProductFactory()
    feedback.events_buffer(retailer_id=retailer.pk, events=[impression(product.pk, None)])
    assert RecommendationEvent.objects.filter(retailer=retailer, product=product).count() == 1
    assert feedback.feedback_flush(max_batches=1) is None


def test_without_any_redis_configured_events_are_written_synchronously(settings) -> None:
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    retailer, product = RetailerFactory(), ProductFactory()
    feedback.events_buffer(retailer_id=retailer.pk, events=[impression(product.pk, None)])
    assert RecommendationEvent.objects.count() == 1


def test_a_click_counts_once_and_only_for_a_product_that_was_shown(buffered) -> None:
    retailer, version = RetailerFactory(), ModelVersionFactory()
    shown, never_shown = ProductFactory(), ProductFactory()
    click = Kind.CLICK
    feedback.events_buffer(
        retailer_id=retailer.pk,
        events=[
            impression(shown.pk, version.pk),
            Event(shown.pk, Surface.BASKET, click, version.pk),
            Event(shown.pk, Surface.BASKET, click, version.pk),
            Event(never_shown.pk, Surface.BASKET, click, version.pk),
            # Shown on the basket, not on "similar".
            Event(shown.pk, Surface.SIMILAR, click, version.pk),
        ],
    )
    feedback.feedback_flush(max_batches=5)
    clicks = RecommendationEvent.objects.filter(kind=click)
    assert list(clicks.values_list("product_id", "surface")) == [(shown.pk, "basket")]


def test_a_click_on_an_impression_stored_earlier_counts(buffered) -> None:
    retailer, product, version = RetailerFactory(), ProductFactory(), ModelVersionFactory()
    RecommendationEventFactory(retailer=retailer, product=product, model_version=version, surface="for_you")
    feedback.events_buffer(
        retailer_id=retailer.pk, events=[Event(product.pk, "for_you", Kind.ADD, version.pk)]
    )
    feedback.feedback_flush(max_batches=5)
    assert RecommendationEvent.objects.filter(kind=Kind.ADD, product=product).count() == 1


def test_events_of_products_deleted_before_the_flush_are_dropped_not_fatal(buffered) -> None:
    retailer, kept, deleted = RetailerFactory(), ProductFactory(), ProductFactory()
    feedback.events_buffer(
        retailer_id=retailer.pk, events=[impression(kept.pk, None), impression(deleted.pk, 999999)]
    )
    deleted.delete()
    assert feedback.feedback_flush(max_batches=5) == 1
    assert list(RecommendationEvent.objects.values_list("product_id", flat=True)) == [kept.pk]


def test_the_flush_task_writes_buffered_predictions(buffered) -> None:
    retailer = RetailerFactory()
    payload = {
        "retailer_id": retailer.pk,
        "user_id": None,
        "model_version_id": None,
        "kind": "next_item",
        "input_product_ids": [1, 2],
        "results": [],
        "created_at": timezone.now().isoformat(),
    }
    assert feedback.buffer_push({predictions.PREDICTIONS_QUEUE: [payload, {**payload, "retailer_id": 10**9}]})
    assert tasks.flush_feedback() == {"events": 0, "predictions": 1}
    assert Prediction.objects.get().input_product_ids == [1, 2]


def test_beat_flushes_the_buffer_every_ten_seconds() -> None:
    migration = importlib.import_module("recommendations.migrations.0006_feedback_flush_schedule")
    migration.create_schedule(apps, None)
    entry = PeriodicTask.objects.get(name=migration.FEEDBACK_FLUSH)
    assert entry.task == "recommendations.tasks.flush_feedback"
    assert (entry.interval.every, entry.interval.period) == (10, "seconds")
    assert entry.queue == "recommendations"
    assert entry.enabled
