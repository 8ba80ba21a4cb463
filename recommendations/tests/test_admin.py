import pytest
from django.test import Client
from django.urls import reverse

from accounts.tests.factories import RetailerFactory, UserFactory
from recommendations.models import ModelVersion, TrainingRun
from recommendations.tests.factories import (
    ModelVersionFactory,
    RecommendationFactory,
    ReorderPredictionFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client: Client) -> Client:
    client.force_login(UserFactory(staff_member=True))
    return client


def test_the_version_list_shows_metrics_side_by_side(staff: Client) -> None:
    ModelVersionFactory(metrics={"hybrid": {"ndcg@10": 0.4321, "recall@10": 0.25, "hit@10": 0.7}})
    ModelVersionFactory(status=ModelVersion.Status.CANDIDATE, metrics={"hybrid": {"ndcg@10": 0.3999}})

    body = staff.get(reverse("admin:recommendations_modelversion_changelist")).content.decode()

    assert "ndcg@10" in body.lower() and "0.4321" in body and "0.3999" in body
    assert "Retrain now" in body and "Roll back to the previous version" in body


def test_retrain_now_queues_a_manual_training_run(staff: Client) -> None:
    response = staff.post(reverse("admin:recommendations_retrain"))

    assert response.status_code == 302
    assert TrainingRun.objects.get().trigger == TrainingRun.Trigger.MANUAL


def test_activate_flips_the_active_version(staff: Client) -> None:
    old = ModelVersionFactory()
    candidate = ModelVersionFactory(status=ModelVersion.Status.CANDIDATE)

    staff.post(
        reverse("admin:recommendations_modelversion_changelist"),
        {"action": "activate_selected", "_selected_action": [candidate.pk]},
    )

    candidate.refresh_from_db()
    old.refresh_from_db()
    assert candidate.status == ModelVersion.Status.ACTIVE
    assert old.status == ModelVersion.Status.RETIRED


def test_roll_back_restores_the_previously_active_version(staff: Client) -> None:
    previous = ModelVersionFactory()
    current = ModelVersionFactory(status=ModelVersion.Status.CANDIDATE)
    staff.post(
        reverse("admin:recommendations_modelversion_changelist"),
        {"action": "activate_selected", "_selected_action": [current.pk]},
    )

    response = staff.post(reverse("admin:recommendations_rollback"), follow=True)

    previous.refresh_from_db()
    assert previous.status == ModelVersion.Status.ACTIVE
    assert f"v{previous.pk} is active again" in response.content.decode()


def test_roll_back_without_a_previous_version_explains_why(staff: Client) -> None:
    ModelVersionFactory()

    response = staff.post(reverse("admin:recommendations_rollback"), follow=True)

    assert "no previous version" in response.content.decode()


def test_the_preview_shows_what_one_retailer_is_shown(staff: Client) -> None:
    retailer = RetailerFactory()
    RecommendationFactory(retailer=retailer, explanation="Popular with 12 retailers in the last 30 days.")
    ReorderPredictionFactory(retailer=retailer)
    RecommendationFactory(explanation="Someone else's pick.")

    body = staff.get(reverse("admin:recommendations_preview"), {"retailer": retailer.pk}).content.decode()

    assert "Popular with 12 retailers in the last 30 days." in body
    assert "You order this about every 14 days" in body
    assert "Someone else" not in body


def test_retailer_members_cannot_reach_the_pipeline_admin(client: Client) -> None:
    client.force_login(UserFactory())

    for name in ["admin:recommendations_preview", "admin:recommendations_modelversion_changelist"]:
        assert client.get(reverse(name)).status_code == 302
    assert client.post(reverse("admin:recommendations_retrain")).status_code == 302
    assert not TrainingRun.objects.exists()
