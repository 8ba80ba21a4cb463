import threading

import pytest
from django.db import connection

from accounts.tests.factories import RetailerFactory
from recommendations import publish, selectors
from recommendations.models import ModelVersion
from recommendations.tests.factories import (
    ModelVersionFactory,
    RecommendationFactory,
    ReorderPredictionFactory,
)

ROWS = 12


def _version_with_rows(retailer, status: str) -> ModelVersion:
    version = ModelVersionFactory(status=status)
    RecommendationFactory.create_batch(ROWS, model_version=version, retailer=retailer)
    ReorderPredictionFactory.create_batch(ROWS // 2, model_version=version, retailer=retailer)
    return version


@pytest.mark.django_db(transaction=True)
def test_a_reader_polling_during_version_flips_sees_one_whole_version_per_request() -> None:
    retailer = RetailerFactory()
    first = _version_with_rows(retailer, ModelVersion.Status.ACTIVE)
    second = _version_with_rows(retailer, ModelVersion.Status.CANDIDATE)
    seen: set[int] = set()
    problems: list[str] = []
    flipping = threading.Event()

    def flip() -> None:
        try:
            for i in range(40):
                publish.model_version_activate(version=second if i % 2 == 0 else first)
        finally:
            flipping.set()
            connection.close()

    def read() -> None:
        try:
            while not flipping.is_set():
                # One request: resolve the version once, read every list of the page from it.
                version = selectors.active_version()
                for_you = selectors.recommendations_for(
                    retailer=retailer, surface="for_you", limit=50, version=version
                )
                due = selectors.reorders_due_for(retailer=retailer, limit=50, version=version)
                versions = {row.model_version_id for row in [*for_you, *due]}
                if versions != {version.pk} or len(for_you) != ROWS or len(due) != ROWS // 2:
                    problems.append(f"v{version.pk}: {versions}, {len(for_you)} + {len(due)} rows")
                seen.add(version.pk)
                # A single selector call without a version is consistent on its own.
                alone = selectors.recommendations_for(retailer=retailer, surface="for_you", limit=50)
                if len({row.model_version_id for row in alone}) != 1 or len(alone) != ROWS:
                    problems.append(f"single call mixed versions: {len(alone)} rows")
        finally:
            connection.close()

    reader = threading.Thread(target=read)
    writer = threading.Thread(target=flip)
    reader.start()
    writer.start()
    writer.join()
    reader.join()

    assert not problems
    assert seen == {first.pk, second.pk}
    assert ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).count() == 1


@pytest.mark.django_db
def test_selectors_read_nothing_when_no_version_is_active() -> None:
    retailer = RetailerFactory()
    _version_with_rows(retailer, ModelVersion.Status.CANDIDATE)

    assert selectors.active_version() is None
    assert selectors.recommendations_for(retailer=retailer, surface="for_you") == []
    assert selectors.reorders_due_for(retailer=retailer) == []
    assert selectors.basket_completion(retailer=retailer, product_ids=[1]) == []


@pytest.mark.django_db
def test_a_retailer_reads_only_its_own_rows() -> None:
    mine, theirs = RetailerFactory(), RetailerFactory()
    version = _version_with_rows(mine, ModelVersion.Status.ACTIVE)
    RecommendationFactory(model_version=version, retailer=theirs)

    rows = selectors.recommendations_for(retailer=mine, surface="for_you", limit=50)

    assert {row.retailer_id for row in rows} == {mine.pk}
