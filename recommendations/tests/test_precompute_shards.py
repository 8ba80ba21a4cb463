"""A version's precompute split into shards: written by real Celery worker processes, taken over when a worker
is killed mid-shard, stopped (and resumable) when a shard keeps failing; the flip only after every shard."""

import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.db import connection, transaction

from accounts.models import Retailer
from recommendations import outbox, precompute, training
from recommendations.models import (
    ModelVersion,
    PrecomputeShard,
    Recommendation,
    RecommendationDocument,
    TaskOutbox,
    TrainingRun,
)
from recommendations.tests.test_services import retrain, version_rows
from recommendations.tests.test_worker import (
    TRAINING_TIMEOUT,
    _backend_alive,
    _connection_kwargs,
    _set_recorded_score,
    finished,
    queue_retrain,
    wait_for,
)
from recommendations.tests.world import build_world

# Small batches, so the 24 retailers of the test world make several shards.
BATCH = 4
SHARD_BATCHES = 1


@pytest.fixture(autouse=True)
def artifacts_dir(settings, tmp_path: Path) -> Path:
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"
    return settings.ARTIFACTS_DIR


def _shard_count() -> int:
    """The retailers' shards and the product shard."""
    return 1 + -(-Retailer.objects.count() // (BATCH * SHARD_BATCHES))


@pytest.fixture
def small_shards(settings, monkeypatch) -> None:
    """Shards of 4 retailers, here and in the workers started after this fixture (they read the variables)."""
    settings.PRECOMPUTE_RETAILER_BATCH = BATCH
    settings.PRECOMPUTE_SHARD_BATCHES = SHARD_BATCHES
    monkeypatch.setenv("SMARTBASKET_PRECOMPUTE_RETAILER_BATCH", str(BATCH))
    monkeypatch.setenv("SMARTBASKET_PRECOMPUTE_SHARD_BATCHES", str(SHARD_BATCHES))


def _copy_in_training(version: ModelVersion) -> ModelVersion:
    """A version as a retrain leaves it before its precompute: in training, its artifact saved (a copy of
    `version`'s, so its rows must be `version`'s), decided to be published."""
    copy = ModelVersion.objects.create(
        data_cutoff=version.data_cutoff,
        metrics=version.metrics,
        artifact_sha256=version.artifact_sha256,
        publish_when_precomputed=True,
    )
    copy.artifact_path = str(Path(version.artifact_path).parent / str(copy.pk))
    shutil.copytree(version.artifact_path, copy.artifact_path)
    copy.save(update_fields=["artifact_path"])
    return copy


def _queue(task: str, *args: int) -> None:
    with transaction.atomic():
        outbox.task_outbox_add(task_name=task, args=list(args))


def _shards(version: ModelVersion) -> list[PrecomputeShard]:
    return list(PrecomputeShard.objects.filter(model_version=version).order_by("index"))


def _backend_waiting_on(table: str) -> int | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            " AND query ILIKE %s",
            [f"%{table}%"],
        )
        row = cursor.fetchone()
    return row[0] if row else None


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_shards_written_by_two_workers_are_the_rows_of_the_in_process_precompute(
    small_shards, celery_worker
) -> None:
    build_world()
    reference = retrain().model_version
    assert reference.status == ModelVersion.Status.ACTIVE
    workers = [celery_worker(), celery_worker()]
    copy = _copy_in_training(reference)

    _queue("recommendations.tasks.precompute_complete", copy.pk)
    wait_for(
        lambda: ModelVersion.objects.filter(pk=copy.pk, status=ModelVersion.Status.ACTIVE).exists(),
        timeout=TRAINING_TIMEOUT,
        message="the sharded precompute to publish",
    )

    shards = _shards(copy)
    assert len(shards) == _shard_count() > 3 and all(
        shard.status == PrecomputeShard.Status.DONE for shard in shards
    )
    assert version_rows(copy) == version_rows(reference), workers[0].log() + workers[1].log()
    copy.refresh_from_db()
    assert copy.row_counts == reference.row_counts
    reference.refresh_from_db()
    assert reference.status == ModelVersion.Status.RETIRED


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_shard_leaves_the_active_version_and_a_rerun_writes_only_the_missing_shards(
    small_shards, celery_worker
) -> None:
    build_world()
    active = retrain().model_version
    active_rows = version_rows(active)
    copy = _copy_in_training(active)
    with transaction.atomic():
        shards = precompute.precompute_shards_plan(version=copy)
    worker = celery_worker()
    # The worker writes the product shard, then blocks on the first retailer shard's documents.
    products, killed = shards[-1], shards[0]
    table = RecommendationDocument._meta.db_table
    blocker = psycopg.connect(**_connection_kwargs())
    blocker.execute(f"LOCK TABLE {table} IN SHARE MODE")
    try:
        _queue(precompute.SHARD_TASK, products.pk)
        _queue(precompute.SHARD_TASK, killed.pk)
        backend_pid = wait_for(
            lambda: _backend_waiting_on(table), timeout=TRAINING_TIMEOUT, message="a shard mid-write"
        )
        worker.kill()
    finally:
        blocker.rollback()
        blocker.close()
    wait_for(
        lambda: not _backend_alive(backend_pid), timeout=30, message="the killed worker's session to end"
    )

    active.refresh_from_db()
    copy.refresh_from_db()
    assert active.status == ModelVersion.Status.ACTIVE and version_rows(active) == active_rows
    assert copy.status == ModelVersion.Status.TRAINING
    products, killed = (PrecomputeShard.objects.get(pk=shard.pk) for shard in (products, killed))
    assert products.status == PrecomputeShard.Status.DONE
    # Nothing of the killed shard was kept, and it counts no failure: it did not fail, its worker died.
    assert killed.status == PrecomputeShard.Status.PENDING and killed.failures == 0
    assert not Recommendation.objects.filter(
        model_version=copy, retailer__id__range=(killed.first_retailer_id, killed.last_retailer_id)
    ).exists()

    celery_worker()
    _queue("recommendations.tasks.precompute_complete", copy.pk)
    wait_for(
        lambda: ModelVersion.objects.filter(pk=copy.pk, status=ModelVersion.Status.ACTIVE).exists(),
        timeout=TRAINING_TIMEOUT,
        message="the rerun to publish",
    )

    after = _shards(copy)
    assert after[-1].finished_at == products.finished_at, "a done shard was written again"
    assert all(shard.status == PrecomputeShard.Status.DONE for shard in after)
    assert version_rows(copy) == active_rows
    active.refresh_from_db()
    assert active.status == ModelVersion.Status.RETIRED


@pytest.fixture
def refusing_trigger() -> Iterator[None]:
    """Drops what `_refuse` installs, whatever the test did (a trigger outlives a transactional test)."""
    yield
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER IF EXISTS test_refuse_rows ON {Recommendation._meta.db_table}")
        cursor.execute("DROP FUNCTION IF EXISTS test_refuse_rows()")


def _refuse(retailer_id: int, *, except_version: int) -> None:
    """PostgreSQL refuses that retailer's recommendation rows of any other version, so the shard holding it
    raises in whichever process writes it."""
    table = Recommendation._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION test_refuse_rows() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'rows refused by the test'; END $$"
        )
        cursor.execute(
            f"CREATE TRIGGER test_refuse_rows BEFORE INSERT ON {table} FOR EACH ROW WHEN"
            f" (NEW.retailer_id = {int(retailer_id)} AND NEW.model_version_id <> {int(except_version)})"
            " EXECUTE FUNCTION test_refuse_rows()"
        )


def _unrefuse() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER test_refuse_rows ON {Recommendation._meta.db_table}")
        cursor.execute("DROP FUNCTION test_refuse_rows()")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_shard_that_raises_stops_the_retrain_before_the_flip_and_completing_it_publishes(
    small_shards, celery_worker, refusing_trigger
) -> None:
    world = build_world()
    active = retrain().model_version
    # Retrains on the same orders compare each version's own holdout score: the challenger is promoted.
    _set_recorded_score(active, 0.0)
    active_rows = version_rows(active)
    celery_worker()
    _refuse(world.retailers[-1].pk, except_version=active.pk)

    run = queue_retrain()
    wait_for(lambda: finished(run), timeout=TRAINING_TIMEOUT, message="the retrain")

    assert run.status == TrainingRun.Status.FAILED
    assert "--resume-precompute" in run.error and "rows refused by the test" in run.error
    version = run.model_version
    assert version.status == ModelVersion.Status.TRAINING
    active.refresh_from_db()
    assert active.status == ModelVersion.Status.ACTIVE and version_rows(active) == active_rows
    shards = _shards(version)
    failed = [shard for shard in shards if shard.status == PrecomputeShard.Status.PENDING]
    assert [shard.last_retailer_id for shard in failed] == [world.retailers[-1].pk]
    assert failed[0].failures == precompute.MAX_SHARD_FAILURES
    done = {shard.pk: shard.finished_at for shard in shards if shard.status == PrecomputeShard.Status.DONE}
    assert len(done) == len(shards) - 1

    _unrefuse()
    _queue("recommendations.tasks.precompute_complete", version.pk)
    wait_for(
        lambda: ModelVersion.objects.filter(pk=version.pk, status=ModelVersion.Status.ACTIVE).exists(),
        timeout=TRAINING_TIMEOUT,
        message="the completed precompute to publish",
    )

    after = {shard.pk: shard.finished_at for shard in _shards(version)}
    assert all(after[pk] == finished_at for pk, finished_at in done.items()), "a done shard was rewritten"
    version.refresh_from_db()
    assert (
        version.row_counts["for_you"]
        == Recommendation.objects.filter(model_version=version, surface="for_you").count()
    )
    assert set(
        Recommendation.objects.filter(model_version=version).values_list("retailer_id", flat=True)
    ) == {retailer.pk for retailer in world.retailers}


@pytest.mark.django_db
def test_embedded_mode_writes_every_shard_in_process_and_queues_nothing(small_shards) -> None:
    from smartbasket.celery import app

    build_world()
    app.conf.task_always_eager = True
    try:
        version = retrain().model_version
    finally:
        app.conf.task_always_eager = False

    shards = _shards(version)
    assert len(shards) == _shard_count() and all(
        shard.status == PrecomputeShard.Status.DONE for shard in shards
    )
    assert version.status == ModelVersion.Status.ACTIVE
    assert not TaskOutbox.objects.filter(task_name=precompute.SHARD_TASK).exists()


@pytest.mark.django_db
def test_completing_a_precompute_rewrites_only_the_shards_not_done(small_shards) -> None:
    build_world()
    version = retrain().model_version
    rows = version_rows(version)
    shards = _shards(version)
    lost = shards[2]
    Recommendation.objects.filter(
        model_version=version, retailer__id__range=(lost.first_retailer_id, lost.last_retailer_id)
    )._raw_delete(connection.alias)
    PrecomputeShard.objects.filter(pk=lost.pk).update(status=PrecomputeShard.Status.PENDING)
    ModelVersion.objects.filter(pk=version.pk).update(status=ModelVersion.Status.CANDIDATE)

    training.model_version_precompute_complete(version_id=version.pk)

    after = {shard.pk: shard.finished_at for shard in _shards(version)}
    assert after[lost.pk] > lost.finished_at
    assert all(after[shard.pk] == shard.finished_at for shard in shards if shard.pk != lost.pk)
    assert version_rows(version) == rows
