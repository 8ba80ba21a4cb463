"""Every sentence is made from its structured reasons, and the numbers in them are true of the orders."""

import itertools
import random
import statistics
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from accounts.models import Retailer
from catalog.models import Category, Product
from orders.models import Order, OrderLine
from recommendations import explanations, selectors, training, training_runs
from recommendations.models import (
    ModelVersion,
    ProductAssociation,
    Recommendation,
    ReorderPrediction,
    TaskOutbox,
    TrainingRun,
)
from recommendations.tests.test_services import FAST
from recommendations.tests.world import build_world
from vendors.models import Vendor

pytestmark = pytest.mark.django_db
SAMPLE = 40


@pytest.fixture(scope="module")
def version(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[ModelVersion]:
    """One world and one trained version shared by the read-only tests of this module (training is slow)."""
    previous = settings.ARTIFACTS_DIR
    settings.ARTIFACTS_DIR = tmp_path_factory.mktemp("artifacts")
    with django_db_blocker.unblock():
        build_world(retailers=30)
        run = training_runs.training_run_create(
            trigger=TrainingRun.Trigger.COMMAND, parameters={"hybrid": FAST}
        )
        yield training.training_run_execute(run_id=run.pk).model_version
        # The active version cannot be deleted (models._refuse_deleting_active): retire it first.
        ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).update(
            status=ModelVersion.Status.RETIRED
        )
        # The retrain also queued the vendors' analytics refreshes (TaskOutbox): committed, so removed too.
        for model in (
            TaskOutbox,
            TrainingRun,
            ModelVersion,
            OrderLine,
            Order,
            Product,
            Category,
            Vendor,
            Retailer,
        ):
            model.objects.all().delete()
    settings.ARTIFACTS_DIR = previous


class RawOrders:
    """Facts recomputed straight from the placed order lines the version was trained on."""

    def __init__(self, version: ModelVersion) -> None:
        lines = OrderLine.objects.filter(order__status="placed", order__placed_at__lte=version.data_cutoff)
        self.orders_with: dict[int, set[int]] = defaultdict(set)
        self.retailer_orders: dict[int, dict[int, object]] = defaultdict(dict)
        self.retailer_product_times: dict[tuple[int, int], list] = defaultdict(list)
        for order_id, retailer_id, product_id, placed_at in lines.values_list(
            "order_id", "order__retailer_id", "product_id", "order__placed_at"
        ):
            self.orders_with[product_id].add(order_id)
            self.retailer_orders[retailer_id][order_id] = placed_at
            self.retailer_product_times[retailer_id, product_id].append(placed_at)
        self.n_orders = len({order for orders in self.orders_with.values() for order in orders})
        self.cutoff = version.data_cutoff

    def together(self, a: int, b: int) -> int:
        return len(self.orders_with[a] & self.orders_with[b])

    def lift(self, a: int, b: int) -> float:
        return self.together(a, b) * self.n_orders / (len(self.orders_with[a]) * len(self.orders_with[b]))


def _days(count: int) -> str:
    return f"{count} day" if count == 1 else f"{count} days"


def _sample(rows: list) -> list:
    return random.Random(0).sample(rows, min(SAMPLE, len(rows)))


def test_every_stored_reason_is_put_into_words_and_none_cites_its_own_product(version: ModelVersion) -> None:
    names = dict(Product.objects.values_list("id", "name"))
    rows = list(Recommendation.objects.filter(model_version=version))

    assert rows
    for row in rows:
        assert explanations.sentence_for(row.reasons, product_names=names, today=timezone.localdate())
        assert all(reason["facts"].get("anchor") != row.product_id for reason in row.reasons)
        # Ages are counted when read: a stored reason keeps dates only.
        assert all("days_since_last" not in reason["facts"] for reason in row.reasons)


def test_co_purchase_numbers_in_sentences_match_the_orders(version: ModelVersion) -> None:
    raw = RawOrders(version)
    names = dict(Product.objects.values_list("id", "name"))
    associations = _sample(list(ProductAssociation.objects.filter(model_version=version)))
    assert associations
    for row in associations:
        together = raw.together(row.product_id, row.other_id)
        product_orders = len(raw.orders_with[row.product_id])
        assert (row.together, row.product_orders, row.n_orders) == (together, product_orders, raw.n_orders)
        assert row.lift == pytest.approx(raw.lift(row.product_id, row.other_id))
        assert (
            f"Bought with {names[row.product_id]} in {together:,} of {product_orders:,} orders"
            in row.explanation
        )
        assert f"({raw.lift(row.product_id, row.other_id):.1f}x more often than chance)" in row.explanation

    # Whether "recommended for you" quotes co-purchases depends on the blend weights chosen on validation;
    # basket completion always does, so both sources are checked together.
    bought_with = [
        (row.product_id, reason)
        for row in Recommendation.objects.filter(model_version=version)
        for reason in row.reasons
        if reason["kind"] == "bought_with"
    ]
    retailer = Retailer.objects.first()
    for association in associations[:10]:
        for suggestion in selectors.basket_completion(
            retailer=retailer, product_ids=[association.product_id]
        ):
            bought_with += [
                (suggestion.product.pk, r) for r in suggestion.reasons if r["kind"] == "bought_with"
            ]
    assert bought_with
    for product_id, reason in _sample(bought_with):
        facts = reason["facts"]
        anchor = facts["anchor"]
        assert facts["together"] == raw.together(anchor, product_id)
        assert facts["anchor_orders"] == len(raw.orders_with[anchor])
        assert facts["lift"] == pytest.approx(raw.lift(anchor, product_id), abs=0.01)


def test_repeat_and_reorder_numbers_match_the_retailers_orders(version: ModelVersion) -> None:
    raw = RawOrders(version)
    personal = [
        (row, reason)
        for row in Recommendation.objects.filter(model_version=version)
        for reason in row.reasons
        if reason["kind"] in ("repeat", "due")
    ]
    # Whether the blend leans on the repeat model depends on the tuned weights; reorder rows always exist.
    for row, reason in _sample(personal):
        times = raw.retailer_product_times[row.retailer_id, row.product_id]
        facts = reason["facts"]
        assert facts["times_ordered"] == len(times)
        assert facts["last_ordered"] == max(times).date().isoformat()
        if reason["kind"] == "repeat":
            assert facts["orders_total"] == len(raw.retailer_orders[row.retailer_id])

    reorders = _sample(list(ReorderPrediction.objects.filter(model_version=version)))
    assert reorders
    for row in reorders:
        times = sorted(raw.retailer_product_times[row.retailer_id, row.product_id])
        gaps = [(later - earlier).total_seconds() / 86400 for earlier, later in itertools.pairwise(times)]
        cadence = max(statistics.median(gaps), 1)
        assert row.times_ordered == len(times)
        assert row.last_ordered == times[-1].date()
        assert row.cadence_days == pytest.approx(cadence, abs=0.05)
        assert row.expected_date == times[-1].date() + timedelta(days=round(cadence))
        today = timezone.localdate()
        since = (today - times[-1].date()).days
        sentence = explanations.reorder_sentence(
            cadence_days=row.cadence_days, last_ordered=row.last_ordered, today=today
        )
        last = times[-1].date()
        when = f"{last.day} {last:%b}" if last.year == today.year else f"{last.day} {last:%b %Y}"
        assert f"about every {_days(round(cadence))}; last ordered {when}, {_days(since)} ago" in sentence


def test_popularity_counts_match_the_distinct_buyers(version: ModelVersion) -> None:
    raw = RawOrders(version)
    popular = [
        reason["facts"] | {"product": row.product_id}
        for row in Recommendation.objects.filter(model_version=version)
        for reason in row.reasons
        if reason["kind"] == "popular" and reason["facts"]["scope"] == "all"
    ]
    window_start = raw.cutoff - timedelta(days=popular[0]["window_days"]) if popular else None
    for facts in _sample(popular):
        buyers = {
            retailer
            for (retailer, product), times in raw.retailer_product_times.items()
            if product == facts["product"] and any(when > window_start for when in times)
        }
        assert facts["retailers"] == len(buyers)


def test_a_sentence_states_only_its_facts() -> None:
    reasons = [
        {
            "kind": "bought_with",
            "weight": 0.6,
            "facts": {"anchor": 5, "together": 212, "anchor_orders": 1340, "lift": 3.1},
        },
        {
            "kind": "due",
            "weight": 0.4,
            "facts": {"cadence_days": 14.2, "last_ordered": "2026-01-02", "times_ordered": 5},
        },
    ]

    sentence = explanations.sentence_for(
        reasons, product_names={5: "Paper Chain Kit"}, today=date(2026, 1, 19)
    )

    assert sentence == (
        "Bought with Paper Chain Kit in 212 of 1,340 orders (3.1x more often than chance). "
        "You order this about every 14 days; last ordered 2 Jan, 17 days ago."
    )


def test_a_sentence_read_on_two_days_keeps_the_date_and_counts_the_days_to_each() -> None:
    due = explanations.due_reason(cadence_days=14, last_ordered=date(2026, 11, 7))
    repeat = {
        "kind": "repeat",
        "weight": 1.0,
        "facts": {"times_ordered": 9, "orders_total": 14, "last_ordered": "2026-11-07"},
    }

    def read(reason: dict, day: date) -> str:
        return explanations.sentence_for([reason], product_names={}, today=day)

    assert (
        read(due, date(2026, 11, 22))
        == "You order this about every 14 days; last ordered 7 Nov, 15 days ago."
    )
    assert (
        read(due, date(2026, 11, 29))
        == "You order this about every 14 days; last ordered 7 Nov, 22 days ago."
    )
    assert (
        read(repeat, date(2026, 11, 8))
        == "You ordered this in 9 of your 14 orders; last ordered 7 Nov, 1 day ago."
    )
    assert read(repeat, date(2026, 11, 7)).endswith("last ordered 7 Nov, today.")
    # Another year's date says its year; a date after "today" (a clock behind the data) is today's.
    assert read(due, date(2027, 1, 2)).endswith("last ordered 7 Nov 2026, 56 days ago.")
    assert read(due, date(2026, 11, 6)).endswith("last ordered 7 Nov, today.")


def test_the_same_last_order_reads_the_same_in_a_card_reason_and_a_reorder_row() -> None:
    today = date(2026, 12, 3)
    card = explanations.sentence_for(
        [
            {
                "kind": "due",
                "weight": 1.0,
                "facts": {"cadence_days": 13.6, "last_ordered": "2026-11-15", "times_ordered": 4},
            }
        ],
        product_names={},
        today=today,
    )
    row = explanations.reorder_sentence(cadence_days=13.6, last_ordered=date(2026, 11, 15), today=today)

    assert card == row == "You order this about every 14 days; last ordered 15 Nov, 18 days ago."


def test_a_reason_citing_its_own_product_is_dropped_and_the_next_one_speaks() -> None:
    reasons = [
        {"kind": "sequence", "weight": 0.7, "facts": {"anchor": 12, "basket_size": 0}},
        {"kind": "popular", "weight": 0.3, "facts": {"retailers": 7, "window_days": 30, "scope": "all"}},
    ]

    kept = explanations.citable(reasons, product_id=12)

    assert kept == reasons[1:]
    assert explanations.sentence_for(
        kept, product_names={12: "Brightwell Value Lemonade x12"}, today=date(2026, 12, 3)
    ) == ("Popular with 7 retailers in the last 30 days.")
    assert explanations.citable(reasons, product_id=99) == reasons
