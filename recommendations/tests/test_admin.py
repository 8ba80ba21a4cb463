from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import RetailerFactory, UserFactory
from recommendations.models import ModelVersion, Recommendation, TrainingRun
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


def test_the_preview_shows_what_one_retailer_is_shown_with_sentences_counted_to_today(staff: Client) -> None:
    retailer = RetailerFactory()
    RecommendationFactory(retailer=retailer)
    ReorderPredictionFactory(retailer=retailer)
    someone_else = RecommendationFactory()

    body = staff.get(reverse("admin:recommendations_preview"), {"retailer": retailer.pk}).content.decode()

    assert f"Popular with 7 retailers in {retailer.region} in the last 30 days." in body
    last = timezone.localdate() - timedelta(days=15)
    assert f"You order this about every 14 days; last ordered {last.day} {last:%b}" in body
    assert "15 days ago." in body
    assert someone_else.product.name not in body


def test_retailer_members_cannot_reach_the_pipeline_admin(client: Client) -> None:
    client.force_login(UserFactory())

    for name in ["admin:recommendations_preview", "admin:recommendations_modelversion_changelist"]:
        assert client.get(reverse(name)).status_code == 302
    assert client.post(reverse("admin:recommendations_retrain")).status_code == 302
    assert not TrainingRun.objects.exists()


# Versions and runs are read-only records; only versions that no longer serve can be deleted


def _artifact(settings, version: ModelVersion) -> Path:
    directory = Path(settings.ARTIFACTS_DIR) / str(version.pk)
    directory.mkdir(parents=True)
    (directory / "params.json").write_text("{}")
    ModelVersion.objects.filter(pk=version.pk).update(artifact_path=str(directory))
    return directory


def _delete_selected(staff: Client, versions: list[ModelVersion], *, confirm: bool):
    data = {"action": "delete_selected", "_selected_action": [version.pk for version in versions]}
    if confirm:
        data["post"] = "yes"
    return staff.post(reverse("admin:recommendations_modelversion_changelist"), data, follow=True)


def test_staff_cannot_delete_the_active_version_from_its_delete_page(staff: Client) -> None:
    active = ModelVersionFactory()
    RecommendationFactory(model_version=active)
    url = reverse("admin:recommendations_modelversion_delete", args=[active.pk])

    assert staff.get(url).status_code == 403
    assert staff.post(url, {"post": "yes"}).status_code == 403
    change_page = staff.get(reverse("admin:recommendations_modelversion_change", args=[active.pk]))
    assert url not in change_page.content.decode()
    assert ModelVersion.objects.filter(pk=active.pk).exists()
    assert Recommendation.objects.filter(model_version=active).exists()


def test_bulk_delete_refuses_a_selection_with_the_active_version_and_says_why(staff: Client) -> None:
    active = ModelVersionFactory()
    retired = ModelVersionFactory(status=ModelVersion.Status.RETIRED)

    response = _delete_selected(staff, [active, retired], confirm=True)

    [message] = [str(message) for message in response.context["messages"]]
    assert message.startswith(f"v{active.pk} (active) cannot be deleted")
    assert "activate or roll back to another one first" in response.content.decode()
    assert ModelVersion.objects.filter(pk__in=[active.pk, retired.pk]).count() == 2


def test_a_retired_version_is_deleted_from_the_admin_with_its_rows_and_artifact(
    staff: Client, settings, tmp_path, django_capture_on_commit_callbacks
) -> None:
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"
    ModelVersionFactory()
    retired = ModelVersionFactory(status=ModelVersion.Status.RETIRED, row_counts={"for_you": 1})
    artifact = _artifact(settings, retired)
    RecommendationFactory(model_version=retired)

    confirmation = _delete_selected(staff, [retired], confirm=False).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = _delete_selected(staff, [retired], confirm=True)

    assert "1 precomputed row and its artifact files" in confirmation
    assert "Successfully deleted 1 model version" in response.content.decode()
    assert not ModelVersion.objects.filter(pk=retired.pk).exists()
    assert not Recommendation.objects.filter(model_version_id=retired.pk).exists()
    assert not artifact.exists()


def test_a_failed_version_is_deleted_from_its_delete_page(
    staff: Client, settings, tmp_path, django_capture_on_commit_callbacks
) -> None:
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"
    failed = ModelVersionFactory(status=ModelVersion.Status.FAILED)
    artifact = _artifact(settings, failed)
    url = reverse("admin:recommendations_modelversion_delete", args=[failed.pk])

    assert staff.get(url).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(url, {"post": "yes"})

    assert response.status_code == 302
    assert not ModelVersion.objects.filter(pk=failed.pk).exists()
    assert not artifact.exists()


def test_the_version_page_is_view_only_and_saving_changes_nothing(staff: Client) -> None:
    version = ModelVersionFactory(decision="Promoted: first version.")
    url = reverse("admin:recommendations_modelversion_change", args=[version.pk])

    page = staff.get(url)
    response = staff.post(url, {"status": "failed", "decision": "edited", "kind": "other"})

    body = page.content.decode()
    assert page.status_code == 200
    assert "Promoted: first version." in body
    assert 'name="decision"' not in body and 'name="status"' not in body and 'name="_save"' not in body
    assert response.status_code == 403
    version.refresh_from_db()
    assert (version.status, version.decision, version.kind) == (
        "active",
        "Promoted: first version.",
        "hybrid",
    )


def test_training_runs_are_view_only_and_cannot_be_deleted(staff: Client) -> None:
    run = TrainingRun.objects.create(status=TrainingRun.Status.SUCCEEDED, log="trained")
    change = reverse("admin:recommendations_trainingrun_change", args=[run.pk])
    delete = reverse("admin:recommendations_trainingrun_delete", args=[run.pk])

    page = staff.get(change).content.decode()

    assert "trained" in page and 'name="log"' not in page and delete not in page
    assert staff.post(change, {"status": "failed", "log": "edited"}).status_code == 403
    assert staff.post(delete, {"post": "yes"}).status_code == 403
    run.refresh_from_db()
    assert (run.status, run.log) == ("succeeded", "trained")


def test_the_version_actions_still_work_on_a_view_only_list(staff: Client) -> None:
    ModelVersionFactory()

    body = staff.get(reverse("admin:recommendations_modelversion_changelist")).content.decode()

    assert 'value="activate_selected"' in body and 'value="delete_selected"' in body
    assert "Retrain now" in body
