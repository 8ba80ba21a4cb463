import threading
import time
from datetime import timedelta

import pytest
from django.contrib import admin
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import UserFactory
from catalog.tests.factories import ProductFactory
from orders.models import OrderLine
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


def test_a_tracked_add_of_a_shown_product_is_recorded_with_its_surface_and_version(retailer, version) -> None:
    product = ProductFactory()
    RecommendationEventFactory(retailer=retailer, product=product, surface="similar", model_version=version)

    recorded = event_record_tracked(
        retailer=retailer, product=product, kind="add", data={"src": "similar", "mv": str(version.pk)}
    )

    assert recorded
    event = RecommendationEvent.objects.get(kind="add")
    assert (event.product, event.surface, event.kind, event.model_version, event.day) == (
        product,
        "similar",
        "add",
        version,
        timezone.localdate(),
    )


@pytest.mark.parametrize("mv", ["999999", "", "9" * 30])
def test_a_tracked_event_without_an_existing_version_is_not_recorded(retailer, version, mv: str) -> None:
    product = ProductFactory()
    RecommendationEventFactory(retailer=retailer, product=product, model_version=version)

    recorded = event_record_tracked(
        retailer=retailer, product=product, kind="click", data={"src": "for_you", "mv": mv}
    )

    assert not recorded
    assert not RecommendationEvent.objects.filter(kind="click").exists()


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
    products = ProductFactory.create_batch(10)
    for index, product in enumerate(products):
        RecommendationEventFactory(retailer=retailer, product=product, model_version=new)
        if index < 3:
            RecommendationEventFactory(retailer=retailer, product=product, kind="click", model_version=new)
        if index < 1:
            RecommendationEventFactory(retailer=retailer, product=product, kind="add", model_version=new)
    for product in products[:4]:
        RecommendationEventFactory(retailer=retailer, product=product, model_version=old)
    RecommendationEventFactory(
        retailer=retailer, product=products[0], kind="click", model_version=old, surface="due"
    )

    rates = feedback_rates(events=RecommendationEvent.objects.all())

    by_key = {(row.model_version_id, row.surface): row for row in rates}
    assert by_key[(new.pk, "for_you")].click_through_percent == pytest.approx(30.0)
    assert by_key[(new.pk, "for_you")].add_percent == pytest.approx(10.0)
    assert by_key[(old.pk, "for_you")].click_through_percent == 0
    assert by_key[(old.pk, "due")].click_through_percent is None


def test_impressions_count_once_per_retailer_product_and_day(retailer, version) -> None:
    product = ProductFactory()
    # A dashboard reloaded five times today, and once yesterday: two showings, one of them clicked.
    RecommendationEventFactory.create_batch(5, retailer=retailer, product=product)
    RecommendationEventFactory(
        retailer=retailer, product=product, day=timezone.localdate() - timedelta(days=1)
    )
    RecommendationEventFactory(retailer=retailer, product=product, kind="click")

    [rates] = feedback_rates(events=RecommendationEvent.objects.all())

    assert (rates.impressions, rates.clicks, rates.click_through_percent) == (2, 1, 50.0)


def test_staff_see_the_rates_above_the_events_in_the_admin(client: Client, retailer, version) -> None:
    products = ProductFactory.create_batch(4)
    for product in products:
        RecommendationEventFactory(retailer=retailer, product=product)
    RecommendationEventFactory(retailer=retailer, product=products[0], kind="click")
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


# Feedback integrity: a click or an add counts only for what was shown, once a day


@pytest.fixture
def shop(client: Client, retailer) -> Client:
    client.force_login(retailer.members.get())
    return client


def _open(shop: Client, product, *, surface: str = "for_you", mv: object = ""):
    response = shop.get(
        reverse("recommendations:product_open", args=[product.pk]), {"src": surface, "mv": mv}
    )
    # Whatever happens to the click, the retailer lands on the product page.
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("catalog:detail", args=[product.pk]))
    return response


def _add(shop: Client, product, *, surface: str = "for_you", mv: object = "") -> None:
    response = shop.post(
        reverse("orders:basket_add"), {"product": product.pk, "quantity": "1", "src": surface, "mv": mv}
    )
    assert response.status_code == 302
    assert OrderLine.objects.filter(
        order__retailer=response.wsgi_request.user.retailer, product=product
    ).exists()


def _feedback(kind: str = "click") -> int:
    return RecommendationEvent.objects.filter(kind=kind).count()


def test_a_click_on_a_product_never_shown_is_not_recorded(shop: Client, version) -> None:
    _open(shop, ProductFactory(), mv=version.pk)

    assert _feedback("click") == 0


def test_a_click_on_a_product_shown_only_to_another_retailer_is_not_recorded(shop: Client, version) -> None:
    product = ProductFactory()
    RecommendationEventFactory(product=product, model_version=version)

    _open(shop, product, mv=version.pk)

    assert _feedback("click") == 0


@pytest.mark.parametrize(
    ("shown_by", "shown_on"), [("other version", "for_you"), ("same version", "new_for_you")]
)
def test_a_click_counts_only_for_the_version_and_surface_that_showed_the_product(
    shop: Client, retailer, version, shown_by: str, shown_on: str
) -> None:
    product = ProductFactory()
    other = ModelVersionFactory(status=ModelVersion.Status.RETIRED)
    RecommendationEventFactory(
        retailer=retailer,
        product=product,
        surface=shown_on,
        model_version=other if shown_by == "other version" else version,
    )

    _open(shop, product, surface="for_you", mv=version.pk)

    assert _feedback("click") == 0


def test_a_product_shown_longer_ago_than_the_window_no_longer_earns_clicks(
    shop: Client, retailer, version
) -> None:
    product = ProductFactory()
    shown = RecommendationEventFactory(retailer=retailer, product=product, model_version=version)
    RecommendationEvent.objects.filter(pk=shown.pk).update(
        created_at=timezone.now() - timedelta(days=TAKEN_WITHIN_DAYS, hours=1)
    )

    _open(shop, product, mv=version.pk)

    assert _feedback("click") == 0


def test_a_second_click_the_same_day_is_not_recorded_and_the_next_day_one_is(
    shop: Client, retailer, version
) -> None:
    product = ProductFactory()
    RecommendationEventFactory(retailer=retailer, product=product, model_version=version)

    _open(shop, product, mv=version.pk)
    _open(shop, product, mv=version.pk)
    assert _feedback("click") == 1

    # The first click was yesterday's.
    RecommendationEvent.objects.filter(kind="click").update(
        day=timezone.localdate() - timedelta(days=1), created_at=timezone.now() - timedelta(days=1)
    )
    _open(shop, product, mv=version.pk)

    assert _feedback("click") == 2


def test_adding_the_same_suggestion_twice_a_day_counts_one_add_and_fills_the_basket(
    shop: Client, retailer, version
) -> None:
    product = ProductFactory()
    RecommendationEventFactory(retailer=retailer, product=product, surface="similar", model_version=version)

    _add(shop, product, surface="similar", mv=version.pk)
    _add(shop, product, surface="similar", mv=version.pk)

    assert _feedback("add") == 1
    assert OrderLine.objects.get(order__retailer=retailer, product=product).quantity == 2


def test_forged_tracking_fields_never_stop_the_add(shop: Client, retailer) -> None:
    product = ProductFactory()

    _add(shop, product, surface="basket", mv="9" * 30)

    assert _feedback("add") == 0


def test_the_database_keeps_one_click_per_product_surface_version_and_day(retailer, version) -> None:
    product = ProductFactory()
    event = Event(product_id=product.pk, surface="for_you", kind="click", model_version_id=version.pk)

    events_record(retailer=retailer, events=[event, event])
    events_record(retailer=retailer, events=[event])

    assert _feedback("click") == 1
    with pytest.raises(IntegrityError), transaction.atomic():
        RecommendationEvent.objects.create(
            retailer=retailer, product=product, surface="for_you", kind="click", model_version=version
        )


def _insert_waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            " AND query ILIKE %s",
            [f"INSERT INTO%{RecommendationEvent._meta.db_table}%"],
        )
        return cursor.fetchone() is not None


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_adds_of_one_suggestion_count_once() -> None:
    retailer = UserFactory().retailer
    version = ModelVersionFactory()
    product = ProductFactory()
    RecommendationEventFactory(retailer=retailer, product=product, model_version=version)
    data = {"src": "for_you", "mv": str(version.pk)}
    first_inserted = threading.Event()
    results: dict[str, bool] = {}

    def first() -> None:
        # Inserts and keeps its transaction open until the second request is blocked behind its row.
        try:
            with transaction.atomic():
                results["first"] = event_record_tracked(
                    retailer=retailer, product=product, kind="add", data=data
                )
                first_inserted.set()
                deadline = time.monotonic() + 10
                while not _insert_waiting_on_a_lock() and time.monotonic() < deadline:
                    time.sleep(0.05)
        finally:
            connection.close()

    def second() -> None:
        first_inserted.wait(10)
        try:
            results["second"] = event_record_tracked(
                retailer=retailer, product=product, kind="add", data=data
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    # Neither saw the other's row before inserting; the unique index let only one in.
    assert results == {"first": True, "second": True}
    assert _feedback("add") == 1


@pytest.mark.django_db(transaction=True)
def test_the_migration_dates_existing_events_and_keeps_the_first_click_of_each_day() -> None:
    retailer = UserFactory().retailer
    version = ModelVersionFactory()
    product = ProductFactory()
    before = [("recommendations", "0003_task_outbox")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        old_events = executor.loader.project_state(before).apps.get_model(
            "recommendations", "RecommendationEvent"
        )
        two_days_ago = timezone.now() - timedelta(days=2)
        for kind, created_at in [
            ("click", two_days_ago),
            ("click", two_days_ago + timedelta(minutes=5)),
            ("click", timezone.now()),
            ("impression", two_days_ago),
            ("impression", two_days_ago),
        ]:
            event = old_events.objects.create(
                retailer_id=retailer.pk,
                product_id=product.pk,
                model_version_id=version.pk,
                surface="for_you",
                kind=kind,
            )
            old_events.objects.filter(pk=event.pk).update(created_at=created_at)
    finally:
        executor = MigrationExecutor(connection)
        # Back to the latest schema, whatever migrations came after this one.
        executor.migrate(executor.loader.graph.leaf_nodes())

    days = sorted(RecommendationEvent.objects.values_list("kind", "day"))
    assert days == [
        ("click", timezone.localdate(two_days_ago)),
        ("click", timezone.localdate()),
        ("impression", timezone.localdate(two_days_ago)),
        ("impression", timezone.localdate(two_days_ago)),
    ]
