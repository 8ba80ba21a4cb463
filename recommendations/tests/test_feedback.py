from datetime import timedelta

import pytest
from django.contrib import admin
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import UserFactory
from catalog.tests.factories import ProductFactory
from orders.tests.factories import OrderFactory, OrderLineFactory
from recommendations import admin_feedback
from recommendations.feedback import (
    TAKEN_WITHIN_DAYS,
    Event,
    Tracking,
    event_record_tracked,
    events_record,
    feedback_rates,
    prediction_history_page,
    tracking_from_data,
)
from recommendations.models import ModelVersion, RecommendationEvent
from recommendations.tests.factories import ModelVersionFactory, RecommendationEventFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def retailer():
    return UserFactory().retailer


@pytest.fixture
def version() -> ModelVersion:
    return ModelVersionFactory()


# Recording


def test_events_are_stored_in_one_insert(retailer, version) -> None:
    products = ProductFactory.create_batch(5)
    events = [
        Event(product_id=p.pk, surface="for_you", kind="impression", model_version_id=version.pk)
        for p in products
    ]

    with CaptureQueriesContext(connection) as queries:
        stored = events_record(retailer=retailer, events=events)

    inserts = [q for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    assert stored == 5 and len(inserts) == 1
    assert RecommendationEvent.objects.filter(retailer=retailer, model_version=version).count() == 5


def test_recording_nothing_costs_nothing(retailer) -> None:
    with CaptureQueriesContext(connection) as queries:
        assert events_record(retailer=retailer, events=[]) == 0
    assert not [q for q in queries.captured_queries if q["sql"].startswith("INSERT")]


@pytest.mark.parametrize(("surface", "kind"), [("homepage", "impression"), ("for_you", "purchase")])
def test_unknown_surfaces_and_kinds_are_refused(retailer, surface: str, kind: str) -> None:
    event = Event(product_id=ProductFactory().pk, surface=surface, kind=kind, model_version_id=None)

    with pytest.raises(ValueError, match="Unknown recommendation event"):
        events_record(retailer=retailer, events=[event])
    assert not RecommendationEvent.objects.exists()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"src": "similar", "mv": "12"}, Tracking(surface="similar", model_version_id=12)),
        ({"src": "bought_together"}, Tracking(surface="bought_together", model_version_id=None)),
        ({"src": "basket", "mv": "12; drop table"}, Tracking(surface="basket", model_version_id=None)),
        ({"src": "elsewhere", "mv": "12"}, None),
        ({}, None),
    ],
)
def test_tracking_fields_are_read_leniently(data: dict, expected: Tracking | None) -> None:
    assert tracking_from_data(data) == expected


def test_a_tracked_add_is_recorded_with_its_surface_and_version(retailer, version) -> None:
    product = ProductFactory()

    recorded = event_record_tracked(
        retailer=retailer, product=product, kind="add", data={"src": "similar", "mv": str(version.pk)}
    )

    assert recorded
    event = RecommendationEvent.objects.get()
    assert (event.product, event.surface, event.kind, event.model_version) == (
        product,
        "similar",
        "add",
        version,
    )


def test_a_tracked_event_naming_a_missing_version_keeps_the_event_without_it(retailer) -> None:
    product = ProductFactory()

    event_record_tracked(
        retailer=retailer, product=product, kind="click", data={"src": "for_you", "mv": "999999"}
    )

    event = RecommendationEvent.objects.get()
    assert event.model_version is None and event.surface == "for_you"


def test_an_untracked_request_records_nothing(retailer) -> None:
    assert not event_record_tracked(
        retailer=retailer, product=ProductFactory(), kind="add", data={"quantity": "2"}
    )
    assert not RecommendationEvent.objects.exists()


# Suggestion history


def _event(retailer, product, *, kind: str = "impression", days_ago: float, surface: str = "for_you") -> None:
    event = RecommendationEventFactory(retailer=retailer, product=product, kind=kind, surface=surface)
    RecommendationEvent.objects.filter(pk=event.pk).update(
        created_at=timezone.now() - timedelta(days=days_ago)
    )


def _history(retailer) -> list:
    return list(prediction_history_page(retailer=retailer, page_number=1, per_page=50).object_list)


def test_a_suggestion_ordered_within_the_window_counts_as_taken(retailer, version) -> None:
    product = ProductFactory()
    _event(retailer, product, days_ago=10)
    OrderLineFactory(
        order=OrderFactory(retailer=retailer, placed_at=timezone.now() - timedelta(days=4)), product=product
    )

    [row] = _history(retailer)

    assert row.taken and row.ordered_at is not None and row.added_at is None


def test_a_suggestion_added_from_a_recommendation_counts_as_taken(retailer, version) -> None:
    product = ProductFactory()
    _event(retailer, product, days_ago=3)
    _event(retailer, product, kind="add", days_ago=2, surface="similar")

    [row] = _history(retailer)

    assert row.taken and row.added_at is not None


def test_orders_outside_the_window_do_not_count(retailer, version) -> None:
    product = ProductFactory()
    _event(retailer, product, days_ago=TAKEN_WITHIN_DAYS + 10)
    OrderLineFactory(
        order=OrderFactory(retailer=retailer, placed_at=timezone.now() - timedelta(days=1)), product=product
    )
    OrderLineFactory(
        order=OrderFactory(
            retailer=retailer, placed_at=timezone.now() - timedelta(days=TAKEN_WITHIN_DAYS + 12)
        ),
        product=product,
    )

    [row] = _history(retailer)

    assert not row.taken


def test_another_retailers_orders_never_mark_a_suggestion_taken(retailer, version) -> None:
    product = ProductFactory()
    _event(retailer, product, days_ago=3)
    other = UserFactory().retailer
    OrderLineFactory(
        order=OrderFactory(retailer=other, placed_at=timezone.now() - timedelta(days=1)), product=product
    )
    _event(other, product, kind="add", days_ago=1)

    [row] = _history(retailer)

    assert not row.taken


def test_repeated_impressions_of_a_day_are_one_row(retailer, version) -> None:
    product = ProductFactory()
    # Three times within yesterday morning (whatever the time now), once three days earlier.
    yesterday_morning = (timezone.now() - timedelta(days=1)).replace(hour=9, minute=0)
    for hours in (0, 1, 2):
        event = RecommendationEventFactory(retailer=retailer, product=product)
        RecommendationEvent.objects.filter(pk=event.pk).update(
            created_at=yesterday_morning + timedelta(hours=hours)
        )
    _event(retailer, product, days_ago=4)

    rows = _history(retailer)

    assert [row.times_shown for row in rows] == [3, 1]


def test_a_history_page_costs_a_fixed_number_of_queries(retailer, version) -> None:
    for index in range(30):
        product = ProductFactory()
        _event(retailer, product, days_ago=index % 5)
        OrderLineFactory(order=OrderFactory(retailer=retailer), product=product)

    with CaptureQueriesContext(connection) as queries:
        rows = _history(retailer)

    assert len(rows) == 30
    # Count, the grouped impressions, their products, the adds and the orders.
    assert len(queries) == 5


# Rates for staff


def test_rates_are_per_model_version_and_surface(retailer) -> None:
    old = ModelVersionFactory(status=ModelVersion.Status.RETIRED)
    new = ModelVersionFactory()
    product = ProductFactory()
    for kind, count in (("impression", 10), ("click", 3), ("add", 1)):
        RecommendationEventFactory.create_batch(
            count, retailer=retailer, product=product, kind=kind, model_version=new
        )
    RecommendationEventFactory.create_batch(4, retailer=retailer, product=product, model_version=old)
    RecommendationEventFactory(
        retailer=retailer, product=product, kind="click", model_version=old, surface="due"
    )

    rates = feedback_rates(events=RecommendationEvent.objects.all())

    by_key = {(row.model_version_id, row.surface): row for row in rates}
    assert by_key[(new.pk, "for_you")].click_through_percent == pytest.approx(30.0)
    assert by_key[(new.pk, "for_you")].add_percent == pytest.approx(10.0)
    assert by_key[(old.pk, "for_you")].click_through_percent == 0
    assert by_key[(old.pk, "due")].click_through_percent is None


def test_staff_see_the_rates_above_the_events_in_the_admin(client: Client, retailer, version) -> None:
    product = ProductFactory()
    RecommendationEventFactory.create_batch(4, retailer=retailer, product=product)
    RecommendationEventFactory(retailer=retailer, product=product, kind="click")
    client.force_login(UserFactory(staff_member=True))

    response = client.get(reverse("admin:recommendations_recommendationevent_changelist"))

    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="feedback-rates"' in body
    assert f"v{version.pk}" in body
    assert "25.0%" in body


def test_the_admin_rates_follow_the_changelist_filters(client: Client, retailer, version) -> None:
    product = ProductFactory()
    RecommendationEventFactory.create_batch(2, retailer=retailer, product=product, surface="due")
    RecommendationEventFactory(retailer=retailer, product=product, surface="similar")
    client.force_login(UserFactory(staff_member=True))

    response = client.get(
        reverse("admin:recommendations_recommendationevent_changelist"), {"surface__exact": "similar"}
    )

    rates = response.context["feedback_rates"]
    assert [(row.surface, row.impressions) for row in rates] == [("similar", 1)]


def test_events_are_read_only_in_the_admin() -> None:
    model_admin = admin.site._registry[RecommendationEvent]

    assert isinstance(model_admin, admin_feedback.RecommendationEventAdmin)
    assert not model_admin.has_add_permission(None)
    assert not model_admin.has_change_permission(None)


def test_retailers_cannot_open_the_feedback_admin(client: Client) -> None:
    client.force_login(UserFactory())

    response = client.get(reverse("admin:recommendations_recommendationevent_changelist"))

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
