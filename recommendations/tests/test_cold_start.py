"""Cold-start lists: what the dashboard and the API serve while no model version is active (the demo's first
training run), with reasons recounted here from the raw orders, the training notice, and the switch to the
model's lists on the next request once a version is published."""

import re
import uuid
from datetime import datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import Retailer
from accounts.tests.factories import RetailerFactory, UserFactory
from catalog.tests.factories import ProductFactory
from orders.models import Order, OrderLine
from orders.tests.factories import OrderFactory, OrderLineFactory
from recommendations import cold_start, training_runs
from recommendations.models import RecommendationEvent, TrainingRun
from recommendations.tests.factories import ModelVersionFactory, RecommendationFactory, TrainingRunFactory

pytestmark = pytest.mark.django_db

LONG_AGO = timezone.now() - timedelta(days=400)


@pytest.fixture(autouse=True)
def own_cache(settings) -> None:
    """A key prefix of this test's own: parallel test runs share the Redis database, and their ids clash."""
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}}


def _order(retailer: Retailer, *products, days_ago: int = 5) -> Order:
    order = OrderFactory(retailer=retailer, placed_at=timezone.now() - timedelta(days=days_ago))
    for product in products:
        OrderLineFactory(order=order, product=product)
    return order


def _old_product(name: str):
    return ProductFactory(name=name, created_at=LONG_AGO)


def _recount_retailers(
    *, product_id: int, me: Retailer, now: datetime, **peer_filter: str
) -> tuple[int, int]:
    """(retailers who ordered the product, retailers who ordered anything), counted in Python from every
    placed order line of the window, other retailers of the peer group only."""
    since = now - timedelta(days=cold_start.WINDOW_DAYS)
    buyers: set[int] = set()
    peers: set[int] = set()
    for line in OrderLine.objects.select_related("order__retailer"):
        order = line.order
        retailer = order.retailer
        if order.status != Order.Status.PLACED or order.placed_at < since or retailer.pk == me.pk:
            continue
        if any(getattr(retailer, field) != value for field, value in peer_filter.items()):
            continue
        peers.add(retailer.pk)
        if line.product_id == product_id:
            buyers.add(retailer.pk)
    return len(buyers), len(peers)


@pytest.fixture
def world():
    """A Yorkshire convenience store (`me`) among neighbours, shops of its segment elsewhere and a London
    café; products ordered in and out of the 90-day window."""
    me = RetailerFactory(region="Yorkshire", segment=Retailer.Segment.CONVENIENCE)
    neighbours = [RetailerFactory(region="Yorkshire", segment=Retailer.Segment.GIFT) for _ in range(3)]
    elsewhere = [RetailerFactory(region="Wales", segment=Retailer.Segment.CONVENIENCE) for _ in range(2)]
    london = RetailerFactory(region="London", segment=Retailer.Segment.CAFE)
    londoner = RetailerFactory(region="London", segment=Retailer.Segment.GIFT)
    tea, scones, bread, cola, coffee, biscuits, mine = (
        _old_product(name)
        for name in (
            "Yorkshire Tea",
            "Scones",
            "Bread",
            "Welsh Cola",
            "London Coffee",
            "Tower Biscuits",
            "My Staple",
        )
    )
    for neighbour in neighbours:
        _order(neighbour, tea)
    _order(neighbours[0], tea, scones)  # the same retailer twice: counted once
    _order(neighbours[1], bread, days_ago=120)  # outside the window
    _order(neighbours[2], mine)
    _order(me, mine)  # the retailer's own product is never offered to it
    for shop in elsewhere:
        _order(shop, cola)
    _order(elsewhere[0], tea)
    _order(london, coffee)
    _order(londoner, biscuits)
    return {"me": me, "london": london, "tea": tea, "scones": scones, "bread": bread, "cola": cola}


def test_region_popularity_counts_other_retailers_of_the_region_in_the_window(world) -> None:
    me, now = world["me"], timezone.now()

    picks = cold_start.cold_start_picks(retailer=me, now=now)

    assert [pick.product.name for pick in picks.region] == ["Yorkshire Tea", "Scones"]
    for pick in picks.region:
        facts = pick.reasons[0]["facts"]
        assert (facts["retailers"], facts["peers"]) == _recount_retailers(
            product_id=pick.product.pk, me=me, now=now, region="Yorkshire"
        )
        assert pick.score == pytest.approx(facts["retailers"] / facts["peers"], abs=1e-4)
    assert picks.region[0].reasons[0]["facts"]["retailers"] == 3


def test_segment_popularity_leaves_out_what_the_region_list_shows(world) -> None:
    me, now = world["me"], timezone.now()

    picks = cold_start.cold_start_picks(retailer=me, now=now)

    assert [pick.product.name for pick in picks.segment] == ["Welsh Cola"]
    facts = picks.segment[0].reasons[0]["facts"]
    assert (facts["retailers"], facts["peers"]) == _recount_retailers(
        product_id=world["cola"].pk, me=me, now=now, segment=Retailer.Segment.CONVENIENCE
    )
    assert facts["scope_value"] == "Convenience store"


def test_a_retailer_of_the_catch_all_segment_is_compared_with_the_whole_platform(world) -> None:
    me = world["me"]
    me.segment = Retailer.Segment.OTHER
    me.save()

    picks = cold_start.cold_start_picks(retailer=me)

    assert {pick.reasons[0]["facts"]["scope"] for pick in picks.segment} == {"all"}
    assert "London Coffee" in [pick.product.name for pick in picks.segment]


def test_new_arrivals_are_recent_active_products_not_ordered_by_the_retailer(world) -> None:
    me = world["me"]
    fresh = ProductFactory(name="Fresh Jam", created_at=timezone.now() - timedelta(days=3))
    ProductFactory(
        name="Old News", created_at=timezone.now() - timedelta(days=cold_start.NEW_ARRIVAL_DAYS + 1)
    )
    ProductFactory(name="Withdrawn", created_at=timezone.now(), is_active=False)
    bought = ProductFactory(name="Already Mine", created_at=timezone.now())
    _order(me, bought, days_ago=0)
    _order(world["london"], fresh, days_ago=1)

    picks = cold_start.cold_start_picks(retailer=me)

    assert [pick.product.name for pick in picks.new_arrivals] == ["Fresh Jam"]
    assert picks.new_arrivals[0].reasons[0]["facts"] == {
        "created": fresh.created_at.date().isoformat(),
        "retailers": 1,
    }


def _shop(client: Client, retailer: Retailer) -> Client:
    client.force_login(UserFactory(retailer=retailer))
    return client


def _day(moment: datetime) -> str:
    """ "1 Dec": the day of `moment` as the portal writes it, the year only when it is not this year's."""
    day = timezone.localtime(moment).date()
    return f"{day.day} {day:%b}" if day.year == timezone.localdate().year else f"{day.day} {day:%b %Y}"


def test_without_an_active_version_the_dashboard_shows_the_cold_start_lists_and_the_training_notice(
    client: Client, world
) -> None:
    run = TrainingRunFactory(
        model_version=None,
        status=TrainingRun.Status.RUNNING,
        started_at=timezone.now() - timedelta(minutes=3),
    )
    fresh = ProductFactory(name="Fresh Jam", created_at=timezone.now() - timedelta(days=2))

    body = _shop(client, world["me"]).get(reverse("recommendations:dashboard")).content.decode()

    assert "Your personal recommendations are being trained;" in body
    assert f"Training run #{run.pk} has been running since" in body
    assert 'hx-trigger="every 10s"' in body
    assert "Popular in Yorkshire" in body
    assert "Popular with 3 retailers in Yorkshire in the last 90 days." in body
    assert "Popular with 2 retailers in your segment (Convenience store) in the last 90 days." in body
    assert f"New in the catalogue since {_day(fresh.created_at)}, 2 days ago." in body
    assert "My Staple" not in body
    shown = RecommendationEvent.objects.filter(retailer=world["me"], kind="impression")
    assert shown.count() == 4
    assert set(shown.values_list("model_version", flat=True)) == {None}


def test_the_notice_says_when_no_run_is_training_and_keeps_watching(client: Client, world) -> None:
    TrainingRunFactory(model_version=None, status=TrainingRun.Status.FAILED, finished_at=timezone.now())

    body = _shop(client, world["me"]).get(reverse("recommendations:dashboard")).content.decode()

    assert "Your personal recommendations are not trained yet;" in body
    assert "failed" in body
    # A run started after the page was shown (the demo's, or a staff retrain) still switches the page.
    assert 'hx-trigger="every 10s"' in body


def test_the_next_request_after_a_version_is_published_shows_the_model_lists(client: Client, world) -> None:
    TrainingRunFactory(model_version=None, status=TrainingRun.Status.RUNNING, started_at=timezone.now())
    shop = _shop(client, world["me"])
    poll = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "portal-training"}
    assert "Popular in Yorkshire" in shop.get(reverse("recommendations:dashboard")).content.decode()
    waiting = shop.get(reverse("recommendations:dashboard"), **poll)
    assert "being trained" in waiting.content.decode()
    assert "HX-Refresh" not in waiting.headers

    version = ModelVersionFactory()
    RecommendationFactory(model_version=version, retailer=world["me"], product=_old_product("Model Pick"))

    assert shop.get(reverse("recommendations:dashboard"), **poll).headers["HX-Refresh"] == "true"
    body = shop.get(reverse("recommendations:dashboard")).content.decode()
    assert "Model Pick" in body
    assert "Popular in Yorkshire" not in body
    assert "being trained" not in body


def test_each_retailer_sees_the_lists_of_its_own_region_and_segment(client: Client, world) -> None:
    mine = _shop(client, world["me"]).get(reverse("recommendations:dashboard")).content.decode()
    theirs = _shop(Client(), world["london"]).get(reverse("recommendations:dashboard")).content.decode()

    assert "Yorkshire Tea" in mine and "Tower Biscuits" not in mine
    assert "Popular in London" in theirs and "Tower Biscuits" in theirs
    assert "Popular in Yorkshire" not in theirs and "Yorkshire Tea" not in theirs
    # No other café has ordered anything, so the café gets no segment list.
    assert "Popular with shops like yours" not in theirs


def _api(retailer: Retailer) -> APIClient:
    api = APIClient()
    token = RefreshToken.for_user(UserFactory(retailer=retailer)).access_token
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


def test_without_an_active_version_the_api_serves_the_same_lists_in_the_same_shape(world) -> None:
    fresh = ProductFactory(name="Fresh Jam", created_at=timezone.now() - timedelta(days=2))

    answer = _api(world["me"]).get(reverse("api-v1-recommendations")).json()

    assert answer["model_version"] is None
    assert answer["due"] == []
    assert [item["product"]["name"] for item in answer["for_you"]] == [
        "Yorkshire Tea",
        "Scones",
        "Welsh Cola",
    ]
    assert [item["rank"] for item in answer["for_you"]] == [1, 2, 3]
    assert answer["for_you"][0]["sentence"] == "Popular with 3 retailers in Yorkshire in the last 90 days."
    assert answer["for_you"][0]["reasons"][0]["kind"] == "popular"
    assert [item["product"]["id"] for item in answer["new_for_you"]] == [fresh.pk]
    assert answer["new_for_you"][0]["is_new_arrival"] is True
    # The same item shape as a model version's document.
    version = ModelVersionFactory()
    RecommendationFactory(model_version=version, retailer=world["me"])
    trained = _api(world["me"]).get(reverse("api-v1-recommendations")).json()
    assert set(trained["for_you"][0]) == set(answer["for_you"][0])
    assert trained["model_version"] == version.pk


def test_the_api_limit_cuts_the_cold_start_lists(world) -> None:
    answer = _api(world["me"]).get(reverse("api-v1-recommendations"), {"kind": "for_you", "limit": 1}).json()

    assert list(answer) == ["model_version", "generated_at", "for_you"]
    assert len(answer["for_you"]) == 1


def test_on_postgresql_running_runs_are_left_to_the_session_lock() -> None:
    run = TrainingRunFactory(model_version=None, status=TrainingRun.Status.RUNNING, started_at=timezone.now())

    assert training_runs.training_runs_orphaned_fail() == 0
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.RUNNING


def test_the_cold_start_dashboard_reads_a_fixed_number_of_queries(
    client: Client, world, django_assert_max_num_queries
) -> None:
    shop = _shop(client, world["me"])
    shop.get(reverse("recommendations:dashboard"))
    with django_assert_max_num_queries(20):
        body = shop.get(reverse("recommendations:dashboard")).content.decode()
    assert re.search(r"Popular with \d+ retailers", body)
