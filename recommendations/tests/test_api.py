import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory
from catalog.tests.factories import ProductFactory
from recommendations.models import ModelVersion, RecommendationEvent
from recommendations.tests.factories import (
    ModelVersionFactory,
    ProductAssociationFactory,
    RecommendationFactory,
    ReorderPredictionFactory,
    SimilarProductFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return UserFactory()


@pytest.fixture
def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_recommendations_list_the_retailers_own_rows_of_the_active_version(api: APIClient, user) -> None:
    version = ModelVersionFactory()
    mine = RecommendationFactory(model_version=version, retailer=user.retailer, rank=1)
    due = ReorderPredictionFactory(model_version=version, retailer=user.retailer)
    new = RecommendationFactory(model_version=version, retailer=user.retailer, surface="new_for_you", rank=1)
    RecommendationFactory(model_version=version)
    ReorderPredictionFactory(model_version=version)

    data = api.get(reverse("api-recommendations")).json()

    assert data["model_version"] == version.pk
    assert [row["product"]["id"] for row in data["for_you"]] == [mine.product_id]
    assert data["for_you"][0]["explanation"] == mine.explanation
    assert data["for_you"][0]["reasons"][0]["sentence"]
    assert [row["product"]["id"] for row in data["due"]] == [due.product_id]
    assert data["due"][0]["suggested_quantity"] == due.suggested_quantity
    assert [row["product"]["id"] for row in data["new_for_you"]] == [new.product_id]
    shown = RecommendationEvent.objects.filter(
        retailer=user.retailer, kind="impression", model_version=version
    )
    assert shown.count() == 3


def test_recommendations_skip_discontinued_products_and_are_empty_without_an_active_version(
    api: APIClient, user
) -> None:
    assert api.get(reverse("api-recommendations")).json() == {
        "model_version": None,
        "for_you": [],
        "due": [],
        "new_for_you": [],
    }
    RecommendationFactory(retailer=user.retailer, product=ProductFactory(is_active=False))
    assert api.get(reverse("api-recommendations")).json()["for_you"] == []


def test_related_products_carry_their_counts_and_skip_discontinued_ones(api: APIClient) -> None:
    teapot, cups, saucers = ProductFactory(name="Teapot"), ProductFactory(name="Tea cups"), ProductFactory()
    ProductAssociationFactory(product=teapot, other=cups, rank=1)
    SimilarProductFactory(product=teapot, other=saucers, similarity=0.4, rank=1)
    SimilarProductFactory(product=teapot, other=ProductFactory(is_active=False), similarity=0.3, rank=2)

    data = api.get(reverse("api-product-related", args=[teapot.pk])).json()

    assert [(row["product"]["name"], row["together"]) for row in data["bought_together"]] == [
        ("Tea cups", 212)
    ]
    assert "212 of 1,340" in data["bought_together"][0]["explanation"]
    assert [row["product"]["id"] for row in data["similar"]] == [saucers.pk]


def test_related_products_of_an_unknown_product_are_a_404(api: APIClient) -> None:
    assert api.get(reverse("api-product-related", args=[999_999])).status_code == 404


@pytest.mark.parametrize(
    ("name", "args"), [("api-recommendations", []), ("api-product-related", [1])], ids=["list", "related"]
)
def test_anonymous_clients_get_401_and_vendors_403(name: str, args: list) -> None:
    client = APIClient()
    assert client.get(reverse(name, args=args)).status_code == 401
    client.force_authenticate(UserFactory(vendor_member=True))
    assert client.get(reverse(name, args=args)).status_code == 403


def test_a_retailer_never_receives_another_retailers_recommendations(api: APIClient) -> None:
    version = ModelVersionFactory()
    theirs = UserFactory()
    RecommendationFactory(model_version=version, retailer=theirs.retailer)
    ReorderPredictionFactory(model_version=version, retailer=theirs.retailer)
    RecommendationFactory(model_version=version, retailer=theirs.retailer, surface="new_for_you")

    data = api.get(reverse("api-recommendations")).json()

    assert data["for_you"] == data["due"] == data["new_for_you"] == []
    assert ModelVersion.objects.get().pk == data["model_version"]
