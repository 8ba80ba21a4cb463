import pytest

from accounts.tests.factories import UserFactory
from catalog.tests.factories import ProductFactory
from orders.models import OrderLine
from orders.tests.factories import OrderFactory, OrderLineFactory
from recommendations.models import RecommendationEvent
from recommendations.portal_services import due_items_add
from recommendations.tests.factories import ModelVersionFactory, ReorderPredictionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def retailer():
    ModelVersionFactory()
    return UserFactory().retailer


def test_due_items_go_in_at_their_suggested_quantities(retailer) -> None:
    first = ReorderPredictionFactory(retailer=retailer, suggested_quantity=4)
    second = ReorderPredictionFactory(retailer=retailer, suggested_quantity=1)

    result = due_items_add(retailer=retailer, predictions=[first, second])

    assert result.added == [first, second]
    assert set(OrderLine.objects.values_list("product_id", "quantity")) == {
        (first.product_id, 4),
        (second.product_id, 1),
    }
    assert RecommendationEvent.objects.filter(kind="add", surface="due").count() == 2


def test_a_discontinued_due_item_is_reported_and_the_others_still_go_in(retailer) -> None:
    gone = ReorderPredictionFactory(
        retailer=retailer, product=ProductFactory(name="Old jam", is_active=False)
    )
    fine = ReorderPredictionFactory(retailer=retailer)

    result = due_items_add(retailer=retailer, predictions=[gone, fine])

    assert result.added == [fine]
    assert result.problems == ["Old jam is no longer available."]
    assert list(OrderLine.objects.values_list("product_id", flat=True)) == [fine.product_id]
    assert list(RecommendationEvent.objects.values_list("product_id", flat=True)) == [fine.product_id]


def test_items_already_in_the_basket_keep_their_quantity(retailer) -> None:
    prediction = ReorderPredictionFactory(retailer=retailer, suggested_quantity=6)
    OrderLineFactory(
        order=OrderFactory(retailer=retailer, basket=True), product=prediction.product, quantity=2
    )

    result = due_items_add(retailer=retailer, predictions=[prediction])

    assert result.already_in_basket == [prediction] and not result.added
    assert OrderLine.objects.get().quantity == 2
    assert not RecommendationEvent.objects.exists()
