"""Explanations over the demo world (`seed_demo`'s world, small), trained and precomputed as a worker would:
no reason cites the product it explains, and a fact reads the same on the dashboard and in the API."""

from collections.abc import Iterator

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils.html import escape
from rest_framework.test import APIClient

from accounts.models import User
from orders.demo_world import DEMO_USERNAMES, DemoWorldConfig, demo_world_build, demo_world_reset
from recommendations import selectors, training, training_runs
from recommendations.models import ModelVersion, ProductAssociation, Recommendation, TaskOutbox, TrainingRun
from recommendations.tests.test_services import FAST

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def version(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[ModelVersion]:
    """One demo world and one trained version shared by this module's read-only tests (training is slow)."""
    previous = settings.ARTIFACTS_DIR
    settings.ARTIFACTS_DIR = tmp_path_factory.mktemp("artifacts")
    with django_db_blocker.unblock():
        demo_world_build(config=DemoWorldConfig(retailers=20, products=80, vendors=3, days=240))
        run = training_runs.training_run_create(
            trigger=TrainingRun.Trigger.COMMAND, parameters={"hybrid": FAST}
        )
        yield training.training_run_execute(run_id=run.pk).model_version
        # The active version cannot be deleted (models._refuse_deleting_active): retire it first.
        ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).update(
            status=ModelVersion.Status.RETIRED
        )
        for model in (TaskOutbox, TrainingRun, ModelVersion):
            model.objects.all().delete()
        demo_world_reset()
    settings.ARTIFACTS_DIR = previous


def test_no_precomputed_reason_names_the_product_it_explains(version: ModelVersion) -> None:
    rows = list(Recommendation.objects.filter(model_version=version))
    anchored = [
        (row.product_id, reason) for row in rows for reason in row.reasons if "anchor" in reason["facts"]
    ]

    assert rows and anchored
    assert [
        (product_id, reason) for product_id, reason in anchored if reason["facts"]["anchor"] == product_id
    ] == []


def test_no_basket_suggestion_names_the_product_it_suggests(version: ModelVersion) -> None:
    retailer = User.objects.get(username=DEMO_USERNAMES["retailer"]).retailer
    products = list(
        ProductAssociation.objects.filter(model_version=version).values_list("product_id", flat=True)[:20]
    )

    suggestions = [
        suggestion
        for product_id in products
        for suggestion in selectors.basket_completion(retailer=retailer, product_ids=[product_id])
    ]

    assert suggestions
    for suggestion in suggestions:
        assert all(reason["facts"]["anchor"] != suggestion.product.pk for reason in suggestion.reasons)


def test_a_fact_reads_the_same_on_the_dashboard_and_in_the_api(version: ModelVersion) -> None:
    user = User.objects.get(username=DEMO_USERNAMES["retailer"])
    browser = Client()
    browser.force_login(user)
    app = APIClient()
    app.force_authenticate(user)

    body = browser.get(reverse("recommendations:dashboard")).content.decode()
    answer = app.get(reverse("api-v1-recommendations")).json()

    # The API's items that the dashboard shows too, found by their element ids.
    element = {"for_you": "rec-for_you", "due": "due", "new_for_you": "rec-new_for_you"}
    shown = [
        (surface, item)
        for surface, prefix in element.items()
        for item in answer[surface]
        if f'id="{prefix}-{item["product"]["id"]}"' in body
    ]
    assert {surface for surface, _ in shown} >= {"for_you", "due"}
    for _, item in shown:
        assert escape(item["sentence"]) in body
        for reason in item["reasons"]:
            assert escape(reason["sentence"]) in body
