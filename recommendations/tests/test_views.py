from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import UserFactory
from catalog.tests.factories import ProductFactory
from orders.models import Order, OrderLine
from orders.tests.factories import OrderFactory, OrderLineFactory
from recommendations.models import ModelVersion, RecommendationEvent
from recommendations.tests.factories import (
    ModelVersionFactory,
    RecommendationEventFactory,
    RecommendationFactory,
    ReorderPredictionFactory,
)

pytestmark = pytest.mark.django_db

RETAILER_URLS = [
    ("get", "recommendations:dashboard", []),
    ("get", "recommendations:history", []),
    ("post", "recommendations:due_add", []),
    ("get", "recommendations:product_open", [1]),
]


@pytest.fixture
def user():
    return UserFactory()


@pytest.fixture
def retailer(user):
    return user.retailer


@pytest.fixture
def shop(client: Client, user) -> Client:
    client.force_login(user)
    return client


@pytest.fixture
def version() -> ModelVersion:
    return ModelVersionFactory()


def _dashboard(shop: Client, **headers: str) -> str:
    response = shop.get(reverse("recommendations:dashboard"), **headers)
    assert response.status_code == 200
    return response.content.decode()


# Dashboard


def test_the_dashboard_shows_recommended_products_as_cards(shop: Client, retailer, version) -> None:
    product = ProductFactory(name="Jam jar", unit_price=Decimal("3.20"), pack_size=12, vendor__name="Jam Co")
    last = timezone.localdate() - timedelta(days=40)
    RecommendationFactory(
        retailer=retailer,
        product=product,
        rank=1,
        score=3.91,
        probability=0.62,
        reasons=[
            {
                "kind": "repeat",
                "weight": 0.8,
                "facts": {"times_ordered": 4, "orders_total": 9, "last_ordered": last.isoformat()},
            }
        ],
    )

    body = _dashboard(shop)

    assert "Recommended for you" in body
    assert "Jam jar" in body and "Jam Co" in body
    assert "£3.20" in body and "pack of 12" in body
    assert "likely in your next order: 62%" in body
    assert 'title="Ranking score 3.910, rank 1,' in body
    assert "<summary>Why?</summary>" in body
    assert f"You ordered this in 4 of your 9 orders; last ordered {_day(last)}, 40 days ago." in body
    assert "You buy it" in body
    # The weight bar's width is a class of the static stylesheet (the CSP forbids inline styles).
    assert '<span class="bar bar-80"></span>' in body
    assert f'action="{reverse("orders:basket_add")}"' in body
    assert f'name="product" value="{product.pk}"' in body
    assert 'name="src" value="for_you"' in body
    assert f'name="mv" value="{version.pk}"' in body


def test_a_card_of_a_version_trained_before_calibration_shows_no_percentage(
    shop: Client, retailer, version
) -> None:
    RecommendationFactory(retailer=retailer, product__name="Jam jar", score=4.2, probability=None)

    body = _dashboard(shop)

    assert "Jam jar" in body
    assert "likely in your next order" not in body and "rec-score" not in body


def _day(day: date) -> str:
    return f"{day.day} {day:%b}" if day.year == timezone.localdate().year else f"{day.day} {day:%b %Y}"


def test_a_product_due_and_recommended_states_its_last_order_in_the_same_words_in_both_sections(
    shop: Client, retailer, version
) -> None:
    due = ReorderPredictionFactory(retailer=retailer, cadence_days=18.4)
    RecommendationFactory(
        retailer=retailer,
        product=due.product,
        reasons=[
            {
                "kind": "due",
                "weight": 1.0,
                "facts": {
                    "cadence_days": 18.4,
                    "last_ordered": due.last_ordered.isoformat(),
                    "times_ordered": 5,
                },
            }
        ],
    )

    body = _dashboard(shop)

    sentence = f"You order this about every 18 days; last ordered {_day(due.last_ordered)}, 15 days ago."
    # Once under "Why?" of the card, once in the due item, whose facts say the same.
    assert body.count(sentence) == 2
    assert f"<dd>{_day(due.last_ordered)}, 15 days ago</dd>" in body


def test_a_reason_citing_the_product_itself_is_not_shown_and_the_next_one_is(
    shop: Client, retailer, version
) -> None:
    product = ProductFactory(name="Brightwell Value Lemonade x12")
    RecommendationFactory(
        retailer=retailer,
        product=product,
        reasons=[
            {"kind": "sequence", "weight": 0.6, "facts": {"anchor": product.pk, "basket_size": 0}},
            {"kind": "popular", "weight": 0.4, "facts": {"retailers": 9, "window_days": 30, "scope": "all"}},
        ],
    )

    body = _dashboard(shop)

    assert "chiefly" not in body and "Ordered next" not in body
    assert "Popular with 9 retailers in the last 30 days." in body


def test_the_dashboard_says_which_model_version_produced_the_lists(shop: Client, retailer, version) -> None:
    RecommendationFactory(retailer=retailer)

    body = _dashboard(shop)

    assert f'title="Ranked by model v{version.pk}"' in body
    assert f"Suggestions by model v{version.pk} (hybrid)" in body


def test_the_dashboard_lists_due_items_with_their_cadence(shop: Client, retailer, version) -> None:
    product = ProductFactory(name="Paper bags")
    ReorderPredictionFactory(
        retailer=retailer,
        product=product,
        cadence_days=14.2,
        last_ordered=timezone.localdate() - timedelta(days=15),
        suggested_quantity=6,
    )

    body = _dashboard(shop)

    assert "Due for reorder" in body
    assert "Paper bags" in body
    assert "14 days" in body
    assert 'name="quantity" value="6"' in body
    assert "Add all due to basket" in body


def test_due_items_beyond_the_first_few_fold_away_but_are_all_added_by_one_click(
    shop: Client, retailer, version
) -> None:
    predictions = ReorderPredictionFactory.create_batch(6, retailer=retailer)

    body = _dashboard(shop)

    folded = body[body.index('<details class="due-more">') :]
    assert "2 more due" in folded
    assert all(f'name="prediction" value="{prediction.pk}"' in body for prediction in predictions)


def test_new_for_you_marks_new_arrivals(shop: Client, retailer, version) -> None:
    fresh = ProductFactory(name="Fresh thing", created_at=version.data_cutoff - timedelta(days=3))
    old = ProductFactory(name="Old thing", created_at=version.data_cutoff - timedelta(days=400))
    RecommendationFactory(retailer=retailer, product=fresh, surface="new_for_you", rank=1)
    RecommendationFactory(retailer=retailer, product=old, surface="new_for_you", rank=2)

    body = _dashboard(shop)

    section = body[body.index('id="portal-new"') :]
    fresh_card = section[section.index("Fresh thing") : section.index("Old thing")]
    assert "New arrival" in fresh_card
    assert "New arrival" not in section[section.index("Old thing") :]


def test_new_for_you_does_not_repeat_products_recommended_above(shop: Client, retailer, version) -> None:
    both = ProductFactory(name="Shown twice")
    RecommendationFactory(retailer=retailer, product=both, surface="for_you")
    RecommendationFactory(retailer=retailer, product=both, surface="new_for_you", rank=1)
    RecommendationFactory(
        retailer=retailer, product=ProductFactory(name="Only new"), surface="new_for_you", rank=2
    )

    body = _dashboard(shop)

    section = body[body.index('id="portal-new"') :]
    assert "Only new" in section
    assert "Shown twice" not in section
    assert body.count('id="rec-for_you-') == 1


def test_discontinued_products_are_not_offered(shop: Client, retailer, version) -> None:
    gone = ProductFactory(name="Discontinued jam", is_active=False)
    RecommendationFactory(retailer=retailer, product=gone)
    RecommendationFactory(retailer=retailer, product=gone, surface="new_for_you")
    ReorderPredictionFactory(retailer=retailer, product=gone)

    body = _dashboard(shop)

    assert "Discontinued jam" not in body
    assert not RecommendationEvent.objects.exists()


def test_a_new_retailer_sees_popular_products_with_reasons_that_say_so(
    shop: Client, retailer, version
) -> None:
    RecommendationFactory(retailer=retailer, product=ProductFactory(name="Best seller"))

    body = _dashboard(shop)

    assert "You have not placed an order yet" in body
    assert "Best seller" in body
    assert f"Popular with 7 retailers in {retailer.region}" in body
    assert "Reorder reminders start once you have ordered the same product more than once." in body


def test_without_an_active_model_the_dashboard_says_so(shop: Client, retailer) -> None:
    ModelVersionFactory(status=ModelVersion.Status.RETIRED)

    body = _dashboard(shop)

    assert "Your personal recommendations are not trained yet;" in body
    assert "Nothing new has arrived in the last 30 days." in body
    assert "Recommended for you" not in body
    assert RecommendationEvent.objects.count() == 0


def test_the_dashboard_shows_only_rows_of_the_active_version(shop: Client, retailer, version) -> None:
    retired = ModelVersionFactory(status=ModelVersion.Status.RETIRED)
    RecommendationFactory(retailer=retailer, model_version=retired, product=ProductFactory(name="Stale pick"))
    RecommendationFactory(retailer=retailer, product=ProductFactory(name="Fresh pick"))

    body = _dashboard(shop)

    assert "Fresh pick" in body
    assert "Stale pick" not in body


def test_the_dashboard_never_shows_another_retailers_recommendations(shop: Client, retailer, version) -> None:
    other = UserFactory().retailer
    RecommendationFactory(retailer=other, product=ProductFactory(name="Their pick"))
    ReorderPredictionFactory(retailer=other, product=ProductFactory(name="Their reorder"))
    RecommendationFactory(retailer=retailer, product=ProductFactory(name="My pick"))

    body = _dashboard(shop)

    assert "My pick" in body
    assert "Their pick" not in body
    assert "Their reorder" not in body


def test_the_dashboard_records_one_impression_per_row_shown(shop: Client, retailer, version) -> None:
    for_you = RecommendationFactory.create_batch(3, retailer=retailer)
    new = RecommendationFactory(retailer=retailer, surface="new_for_you")
    due = ReorderPredictionFactory(retailer=retailer)

    _dashboard(shop)

    recorded = set(
        RecommendationEvent.objects.values_list(
            "retailer_id", "product_id", "surface", "kind", "model_version_id"
        )
    )
    expected = {(retailer.pk, row.product_id, "for_you", "impression", version.pk) for row in for_you}
    expected |= {
        (retailer.pk, new.product_id, "new_for_you", "impression", version.pk),
        (retailer.pk, due.product_id, "due", "impression", version.pk),
    }
    assert recorded == expected


def _dashboard_queries(shop: Client) -> int:
    with CaptureQueriesContext(connection) as queries:
        _dashboard(shop)
    return len(queries)


def test_the_dashboard_query_count_does_not_grow_with_the_rows(shop: Client, retailer, version) -> None:
    anchor = ProductFactory()
    reasons = [
        {
            "kind": "bought_with",
            "weight": 0.9,
            "facts": {"anchor": anchor.pk, "together": 5, "anchor_orders": 9, "lift": 2.5},
        }
    ]
    OrderLineFactory(order=OrderFactory(retailer=retailer), product=anchor)
    OrderLineFactory(order=OrderFactory(retailer=retailer, basket=True))
    RecommendationFactory(retailer=retailer, reasons=reasons)
    RecommendationFactory(retailer=retailer, surface="new_for_you")
    ReorderPredictionFactory(retailer=retailer)
    few = _dashboard_queries(shop)

    RecommendationFactory.create_batch(10, retailer=retailer, reasons=reasons)
    RecommendationFactory.create_batch(6, retailer=retailer, surface="new_for_you")
    ReorderPredictionFactory.create_batch(8, retailer=retailer)
    many = _dashboard_queries(shop)

    assert many == few
    # Session, user, retailer; the summary (3); the active version (once here, once inside each of the
    # three selectors) and the three surfaces; the product names quoted by the reasons; the navigation's
    # basket count; one INSERT of all impressions (inside a savepoint in tests).
    assert many <= 18


def test_the_summary_compares_this_months_spend_with_last_months(shop: Client, retailer, version) -> None:
    now = timezone.now()
    this_month = now.replace(day=1, hour=12)
    last_month = (this_month - timedelta(days=5)).replace(hour=12)
    OrderLineFactory(
        order=OrderFactory(retailer=retailer, placed_at=this_month), quantity=2, unit_price=Decimal("30")
    )
    OrderLineFactory(
        order=OrderFactory(retailer=retailer, placed_at=last_month), quantity=1, unit_price=Decimal("40")
    )
    OrderLineFactory(
        order=OrderFactory(retailer=UserFactory().retailer, placed_at=this_month), unit_price=Decimal("999")
    )
    basket = OrderFactory(retailer=retailer, basket=True)
    OrderLineFactory(order=basket, quantity=3, unit_price=Decimal("2.50"))

    body = _dashboard(shop)

    assert "£60.00" in body
    assert "Last month £40.00" in body
    assert "+50%" in body
    assert "£7.50" in body and "1 product ·" in body


def test_the_summary_refreshes_alone_after_a_basket_change(shop: Client, retailer, version) -> None:
    OrderLineFactory(
        order=OrderFactory(retailer=retailer, basket=True), quantity=2, unit_price=Decimal("5.00")
    )

    body = _dashboard(shop, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="portal-summary")

    assert "<html" not in body
    assert body.strip().startswith('<section id="portal-summary"')
    assert "£10.00" in body
    assert RecommendationEvent.objects.count() == 0


# Add all due items


def _due_add(shop: Client, *prediction_ids: int, **headers: str):
    return shop.post(reverse("recommendations:due_add"), {"prediction": list(prediction_ids)}, **headers)


def test_adding_all_due_items_puts_each_in_the_basket_at_its_suggested_quantity(
    shop: Client, retailer, version
) -> None:
    first = ReorderPredictionFactory(retailer=retailer, suggested_quantity=6)
    second = ReorderPredictionFactory(retailer=retailer, suggested_quantity=2)

    response = _due_add(shop, first.pk, second.pk)

    assert response.status_code == 302
    assert response["Location"] == reverse("recommendations:dashboard")
    lines = OrderLine.objects.filter(order__retailer=retailer, order__status=Order.Status.DRAFT)
    assert {(line.product_id, line.quantity) for line in lines} == {
        (first.product_id, 6),
        (second.product_id, 2),
    }
    adds = RecommendationEvent.objects.filter(kind="add")
    assert set(adds.values_list("product_id", "surface", "model_version_id")) == {
        (first.product_id, "due", version.pk),
        (second.product_id, "due", version.pk),
    }


def test_adding_all_due_items_leaves_products_already_in_the_basket_alone(
    shop: Client, retailer, version
) -> None:
    prediction = ReorderPredictionFactory(retailer=retailer, suggested_quantity=6)
    OrderLineFactory(
        order=OrderFactory(retailer=retailer, basket=True), product=prediction.product, quantity=1
    )

    _due_add(shop, prediction.pk)

    assert OrderLine.objects.get(product=prediction.product).quantity == 1
    assert not RecommendationEvent.objects.filter(kind="add").exists()


def test_adding_all_due_items_with_htmx_returns_the_panel_and_the_summary(
    shop: Client, retailer, version
) -> None:
    prediction = ReorderPredictionFactory(retailer=retailer, product=ProductFactory(name="Paper bags"))

    response = _due_add(shop, prediction.pk, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="portal-due")

    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert body.startswith('\n  <section id="portal-due"') or body.lstrip().startswith(
        '<section id="portal-due"'
    )
    assert "6 in your basket" in body
    assert 'id="portal-summary" class="portal-summary" aria-label="Summary" hx-swap-oob="true"' in body
    assert 'id="nav-basket-count"' in body
    assert "Added 1 due item to your basket." in body


def test_another_retailers_due_item_cannot_be_added(shop: Client, retailer, version) -> None:
    mine = ReorderPredictionFactory(retailer=retailer)
    theirs = ReorderPredictionFactory(retailer=UserFactory().retailer)

    response = _due_add(shop, mine.pk, theirs.pk)

    assert response.status_code == 404
    assert not OrderLine.objects.exists()


def test_a_due_item_of_a_retired_version_cannot_be_added(shop: Client, retailer, version) -> None:
    stale = ReorderPredictionFactory(
        retailer=retailer, model_version=ModelVersionFactory(status=ModelVersion.Status.RETIRED)
    )

    assert _due_add(shop, stale.pk).status_code == 404
    assert not OrderLine.objects.exists()


@pytest.mark.parametrize("posted", [[], ["abc"], ["-1"]])
def test_adding_due_items_rejects_malformed_lists(shop: Client, version, posted: list[str]) -> None:
    response = shop.post(reverse("recommendations:due_add"), {"prediction": posted})

    assert response.status_code == 404


def test_adding_due_items_needs_a_post(shop: Client) -> None:
    assert shop.get(reverse("recommendations:due_add")).status_code == 405


# Tracked product links


def test_a_tracked_product_link_records_a_click_and_opens_the_product(
    shop: Client, retailer, version
) -> None:
    product = ProductFactory()
    RecommendationEventFactory(retailer=retailer, product=product, model_version=version)

    response = shop.get(
        reverse("recommendations:product_open", args=[product.pk]), {"src": "for_you", "mv": version.pk}
    )

    assert response.status_code == 302
    assert (
        response["Location"] == f"{reverse('catalog:detail', args=[product.pk])}?src=for_you&mv={version.pk}"
    )
    event = RecommendationEvent.objects.get(kind="click")
    assert (event.retailer, event.product, event.surface, event.kind, event.model_version) == (
        retailer,
        product,
        "for_you",
        "click",
        version,
    )


def test_a_product_link_with_bad_tracking_still_opens_the_product(shop: Client) -> None:
    product = ProductFactory()

    response = shop.get(
        reverse("recommendations:product_open", args=[product.pk]), {"src": "nope", "mv": "x"}
    )

    assert response["Location"] == reverse("catalog:detail", args=[product.pk])
    assert not RecommendationEvent.objects.exists()


def test_a_product_link_to_an_unknown_product_is_a_404(shop: Client) -> None:
    assert shop.get(reverse("recommendations:product_open", args=[987654])).status_code == 404


# Suggestion history


def _shown(retailer, product, *, days_ago: int, surface: str = "for_you", version=None) -> None:
    event = RecommendationEventFactory(
        retailer=retailer, product=product, surface=surface, model_version=version
    )
    RecommendationEvent.objects.filter(pk=event.pk).update(
        created_at=timezone.now() - timedelta(days=days_ago)
    )


def test_the_history_lists_suggestions_and_which_were_taken(shop: Client, retailer, version) -> None:
    taken = ProductFactory(name="Taken product")
    ignored = ProductFactory(name="Ignored product")
    _shown(retailer, taken, days_ago=5, version=version)
    _shown(retailer, ignored, days_ago=5, version=version)
    OrderLineFactory(
        order=OrderFactory(retailer=retailer, placed_at=timezone.now() - timedelta(days=2)), product=taken
    )

    body = shop.get(reverse("recommendations:history")).content.decode()

    taken_row = body[body.index("Taken product") :]
    taken_row = taken_row[: taken_row.index("</tr>")]
    ignored_row = body[body.index("Ignored product") :]
    ignored_row = ignored_row[: ignored_row.index("</tr>")]
    assert "Ordered" in taken_row
    assert "Not taken" in ignored_row
    assert "Recommended for you" in body


def test_the_history_never_shows_another_retailers_suggestions(shop: Client, retailer, version) -> None:
    _shown(UserFactory().retailer, ProductFactory(name="Their product"), days_ago=1, version=version)

    body = shop.get(reverse("recommendations:history")).content.decode()

    assert "Their product" not in body
    assert "Nothing yet" in body


def test_the_history_pages_with_htmx_return_only_the_rows(shop: Client, retailer, user, version) -> None:
    user.items_per_page = 10
    user.save(update_fields=["items_per_page"])
    for index in range(12):
        _shown(retailer, ProductFactory(name=f"Shown {index:02d}"), days_ago=index, version=version)

    response = shop.get(
        reverse("recommendations:history"), {"page": 2}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="history-rows"
    )

    body = response.content.decode()
    assert "<html" not in body
    assert "Page 2 of 2" in body
    assert "Shown 10" in body and "Shown 11" in body
    assert "Shown 00" not in body


# Access


@pytest.mark.parametrize(("method", "name", "args"), RETAILER_URLS)
def test_anonymous_visitors_are_sent_to_log_in(client: Client, method: str, name: str, args: list) -> None:
    response = getattr(client, method)(reverse(name, args=args))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


@pytest.mark.parametrize("traits", [{"vendor_member": True}, {"staff_member": True}])
@pytest.mark.parametrize(("method", "name", "args"), RETAILER_URLS)
def test_vendors_and_staff_cannot_reach_retailer_pages(
    client: Client, traits: dict, method: str, name: str, args: list
) -> None:
    ProductFactory(pk=1)
    client.force_login(UserFactory(**traits))

    response = getattr(client, method)(reverse(name, args=args))

    assert response.status_code == 403
    assert not RecommendationEvent.objects.exists()
