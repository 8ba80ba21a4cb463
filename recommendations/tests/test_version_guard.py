"""The active model version and its rows cannot be deleted; versions that no longer serve go with their rows
and artifact files, and a failed version leaves no artifact behind."""

from pathlib import Path

import psycopg
import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import ProtectedError

from accounts.models import Retailer
from recommendations import precompute, publish, training, training_runs
from recommendations.models import (
    ItemVector,
    ModelVersion,
    ProductAssociation,
    Recommendation,
    ReorderPrediction,
    SimilarProduct,
    TrainingRun,
)
from recommendations.tests.factories import (
    ItemVectorFactory,
    ModelVersionFactory,
    ProductAssociationFactory,
    RecommendationEventFactory,
    RecommendationFactory,
    ReorderPredictionFactory,
    SimilarProductFactory,
)
from recommendations.tests.world import build_world

pytestmark = pytest.mark.django_db

ROW_FACTORIES = [
    RecommendationFactory,
    ReorderPredictionFactory,
    ProductAssociationFactory,
    SimilarProductFactory,
    ItemVectorFactory,
]
ROW_MODELS = [Recommendation, ReorderPrediction, ProductAssociation, SimilarProduct, ItemVector]
# Seconds, not minutes: tiny embeddings and a single TensorFlow epoch.
FAST = {"params": {"neural": {"epochs": 1, "dim": 8}, "factorization": {"factors": 8}}}


@pytest.fixture(autouse=True)
def artifacts_dir(settings, tmp_path: Path) -> Path:
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"
    return settings.ARTIFACTS_DIR


def _with_artifact(version: ModelVersion) -> Path:
    """A stand-in artifact directory where the pipeline would write the version's files."""
    directory = Path(django_settings.ARTIFACTS_DIR) / str(version.pk)
    (directory / "hybrid").mkdir(parents=True)
    (directory / "hybrid" / "params.json").write_text("{}")
    ModelVersion.objects.filter(pk=version.pk).update(artifact_path=str(directory))
    version.artifact_path = str(directory)
    return directory


def _rows_of(version: ModelVersion) -> int:
    return sum(model.objects.filter(model_version=version).count() for model in ROW_MODELS)


# The active version


def test_the_active_version_cannot_be_deleted_through_the_orm() -> None:
    active = ModelVersionFactory()
    RecommendationFactory(model_version=active)

    with pytest.raises(ProtectedError, match="active model version"):
        active.delete()
    with pytest.raises(ProtectedError, match="active model version"):
        ModelVersion.objects.all().delete()

    assert ModelVersion.objects.filter(pk=active.pk, status="active").exists()
    assert _rows_of(active) == 1


@pytest.mark.parametrize("row_factory", ROW_FACTORIES, ids=lambda f: f._meta.model.__name__)
def test_the_active_versions_rows_cannot_be_deleted_through_the_orm(row_factory) -> None:
    row = row_factory()
    model = type(row)

    with pytest.raises(ProtectedError, match="its rows cannot be deleted"):
        row.delete()
    with pytest.raises(ProtectedError):
        model.objects.filter(model_version=row.model_version).delete()

    assert model.objects.filter(pk=row.pk).exists()


def test_rows_of_a_version_that_no_longer_serves_can_be_deleted() -> None:
    ModelVersionFactory()
    retired = ModelVersionFactory(status=ModelVersion.Status.RETIRED)
    row = RecommendationFactory(model_version=retired)

    Recommendation.objects.filter(model_version=retired).delete()

    assert not Recommendation.objects.filter(pk=row.pk).exists()


def test_a_retailer_deleted_takes_its_rows_of_the_active_version_with_it() -> None:
    row = RecommendationFactory()
    kept = RecommendationFactory()

    Retailer.objects.filter(pk=row.retailer_id).delete()

    assert not Recommendation.objects.filter(pk=row.pk).exists()
    assert Recommendation.objects.filter(pk=kept.pk).exists()


def test_the_pipeline_still_replaces_one_retailers_rows_of_the_active_version() -> None:
    row = RecommendationFactory()
    other = RecommendationFactory()

    precompute.model_version_rows_delete(version=row.model_version, retailer_ids=[row.retailer_id])

    assert not Recommendation.objects.filter(pk=row.pk).exists()
    assert Recommendation.objects.filter(pk=other.pk).exists()


# Deleting versions that no longer serve


@pytest.mark.parametrize("status", ["retired", "failed", "candidate"])
def test_a_version_that_no_longer_serves_is_deleted_with_its_rows_and_artifact(
    status: str, django_capture_on_commit_callbacks
) -> None:
    ModelVersionFactory()
    version = ModelVersionFactory(status=status)
    artifact = _with_artifact(version)
    for row_factory in ROW_FACTORIES:
        row_factory(model_version=version)
    run = TrainingRun.objects.create(model_version=version, status=TrainingRun.Status.SUCCEEDED)
    event = RecommendationEventFactory(model_version=version)

    with django_capture_on_commit_callbacks(execute=True):
        deleted = publish.model_versions_delete(version_ids=[version.pk])

    assert deleted == [version.pk]
    assert not ModelVersion.objects.filter(pk=version.pk).exists()
    assert _rows_of(version) == 0
    assert not artifact.exists()
    # The run's log and the click-through history stay, without the version.
    run.refresh_from_db()
    event.refresh_from_db()
    assert run.model_version is None and event.model_version is None


@pytest.mark.parametrize("status", ["active", "training"])
def test_deleting_a_version_that_serves_or_is_being_built_is_refused(
    status: str, django_capture_on_commit_callbacks
) -> None:
    version = ModelVersionFactory(status=status)
    artifact = _with_artifact(version)
    retired = ModelVersionFactory(status=ModelVersion.Status.RETIRED)

    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(ValidationError, match="cannot be deleted"),
    ):
        publish.model_versions_delete(version_ids=[version.pk, retired.pk])

    assert ModelVersion.objects.filter(pk__in=[version.pk, retired.pk]).count() == 2
    assert artifact.exists()


# Failed versions leave no artifact files


def test_a_failed_run_removes_the_artifact_its_version_had_written() -> None:
    version = ModelVersion.objects.create()
    artifact = _with_artifact(version)
    RecommendationFactory(model_version=version)
    run = TrainingRun.objects.create(model_version=version)
    training_runs.training_run_claim(run_id=run.pk, celery_task_id="t")
    run.refresh_from_db()

    training_runs.training_run_fail(run=run, version=version, error="OperationalError: lock timeout")

    version.refresh_from_db()
    assert version.status == ModelVersion.Status.FAILED and version.pruned_at is not None
    assert _rows_of(version) == 0
    assert not artifact.exists()


def test_a_run_whose_worker_died_leaves_no_artifact_once_the_next_run_starts() -> None:
    version = ModelVersion.objects.create()
    artifact = _with_artifact(version)
    run = TrainingRun.objects.create(model_version=version)
    training_runs.training_run_claim(run_id=run.pk, celery_task_id="killed")

    training_runs.training_runs_abandoned_fail()

    version.refresh_from_db()
    assert version.status == ModelVersion.Status.FAILED
    assert not artifact.exists()


def test_the_regular_prune_removes_files_left_by_versions_that_failed_earlier() -> None:
    version = ModelVersionFactory(status=ModelVersion.Status.FAILED)
    ModelVersion.objects.filter(pk=version.pk).update(pruned_at=version.created_at)
    version.refresh_from_db()
    artifact = _with_artifact(version)

    publish.model_versions_prune()

    assert not artifact.exists()
    assert ModelVersion.objects.filter(pk=version.pk).exists()


def test_a_precompute_that_keeps_failing_keeps_its_artifact_for_the_resume_that_publishes_it(
    artifacts_dir: Path,
) -> None:
    """A real failure: the precompute cannot lock the association table that another session holds. The run
    fails, but its version stays resumable with its artifact (issue 14: a failed shard leaves the run
    resumable); completing it once the lock is gone publishes it."""
    build_world()
    run = training_runs.training_run_create(trigger=TrainingRun.Trigger.COMMAND, parameters={"hybrid": FAST})
    settings = connection.settings_dict
    blocker = psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
    )
    blocker.execute(f"LOCK TABLE {ProductAssociation._meta.db_table} IN SHARE MODE")
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '1s'")
        with pytest.raises(precompute.PrecomputeIncomplete, match="lock timeout"):
            training.training_run_execute(run_id=run.pk)
    finally:
        blocker.rollback()
        blocker.close()

    run.refresh_from_db()
    version = run.model_version
    assert run.status == TrainingRun.Status.FAILED and version.status == ModelVersion.Status.TRAINING
    assert Path(version.artifact_path).exists()

    published = training.model_version_precompute_complete(version_id=version.pk)

    assert published.status == ModelVersion.Status.ACTIVE
    assert _rows_of(published) > 0
