"""Live basket completion (the basket page and the next-item API) follows the active version's completion
weights, with a true reason for every signal that chose a suggestion."""

import numpy as np
import pytest
from django.core.cache import cache
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory
from catalog.tests.factories import ProductFactory
from recommendations import precompute, predictions, publish, selectors
from recommendations.ml import completion
from recommendations.models import ModelVersion
from recommendations.tests.factories import (
    ItemVectorFactory,
    ModelVersionFactory,
    ProductAssociationFactory,
)

pytestmark = pytest.mark.django_db

BY_LIFT = {
    "completion": {"weights": {"association": 0.0, "lift": 1.0, "popularity": 0.0}, "top_orders": 5000}
}
BY_POPULARITY = {"completion": {"weights": {"popularity": 1.0}, "top_orders": 5000}}
BY_EMBEDDING = {"completion": {"weights": {"lift": 0.1, "embedding": 1.0}, "top_orders": 5000}}


def _vector(*values: float) -> bytes:
    return np.array(values, dtype=np.float32).tobytes()


@pytest.fixture
def shop() -> dict:
    """Jam is bought with rare Clotted cream (lift 6) and with Tea, which half the platform's orders hold
    (lift 1.5); Scones lie closest to Jam in the item embedding."""
    jam, cream, tea, scones = (
        ProductFactory(name=name) for name in ("Jam", "Clotted cream", "Tea", "Scones")
    )
    return {"jam": jam, "cream": cream, "tea": tea, "scones": scones}


def _version(shop: dict, parameters: dict, status: str) -> ModelVersion:
    version = ModelVersionFactory(status=status, parameters=parameters)
    rows = [
        (shop["cream"], 6.0, 40, 60, 0),
        (shop["tea"], 1.5, 300, 5000, 1),
        (shop["scones"], 1.2, 30, 800, 2),
    ]
    for other, lift, together, other_orders, rank in rows:
        ProductAssociationFactory(
            model_version=version,
            product=shop["jam"],
            other=other,
            lift=lift,
            together=together,
            product_orders=400,
            other_orders=other_orders,
            n_orders=10000,
            rank=rank,
        )
    for product, vector in (
        (shop["jam"], _vector(1, 0, 0, 0)),
        (shop["scones"], _vector(1, 0.1, 0, 0)),
        (shop["cream"], _vector(0, 1, 0, 0)),
        (shop["tea"], _vector(0, 0, 1, 0)),
    ):
        ItemVectorFactory(model_version=version, product=product, vector=vector)
    return version


def _names(suggestions: list) -> list[str]:
    return [suggestion.product.name for suggestion in suggestions]


def test_basket_suggestions_follow_each_versions_completion_weights(shop: dict) -> None:
    retailer = UserFactory().retailer
    by_lift = _version(shop, BY_LIFT, ModelVersion.Status.ACTIVE)
    by_popularity = _version(shop, BY_POPULARITY, ModelVersion.Status.CANDIDATE)
    by_embedding = _version(shop, BY_EMBEDDING, ModelVersion.Status.CANDIDATE)

    def suggest(version: ModelVersion | None) -> list:
        return selectors.basket_completion(retailer=retailer, product_ids=[shop["jam"].pk], version=version)

    assert _names(suggest(by_lift)) == ["Clotted cream", "Tea", "Scones"]
    assert _names(suggest(None)) == ["Clotted cream", "Tea", "Scones"]
    assert _names(suggest(by_popularity)) == ["Tea", "Scones", "Clotted cream"]
    assert _names(suggest(by_embedding))[0] == "Scones"


def test_a_suggestion_chosen_by_popularity_says_so_after_its_counted_co_purchases(shop: dict) -> None:
    retailer = UserFactory().retailer
    version = _version(shop, BY_POPULARITY, ModelVersion.Status.ACTIVE)

    tea = selectors.basket_completion(retailer=retailer, product_ids=[shop["jam"].pk], version=version)[0]

    assert [reason["kind"] for reason in tea.reasons] == ["bought_with", "in_orders"]
    assert tea.reasons[1]["weight"] == pytest.approx(1.0)
    assert tea.reasons[1]["facts"] == {"orders": 5000, "n_orders": 10000}
    assert tea.explanation == (
        "Bought with Jam in 300 of 400 orders (1.5x more often than chance). "
        "In 5,000 of the 10,000 orders on the platform."
    )


def test_a_suggestion_chosen_by_the_embedding_names_the_basket_it_was_matched_to(shop: dict) -> None:
    retailer = UserFactory().retailer
    version = _version(shop, BY_EMBEDDING, ModelVersion.Status.ACTIVE)

    scones = selectors.basket_completion(retailer=retailer, product_ids=[shop["jam"].pk], version=version)[0]

    kinds = [reason["kind"] for reason in scones.reasons]
    assert kinds == ["bought_with", "basket_fit"]
    assert scones.reasons[1]["weight"] > 0.9
    assert scones.explanation.startswith("Bought with Jam in 30 of 400 orders")
    assert scones.explanation.endswith("Suggested from the 1 product in your basket.")


def test_a_version_trained_before_completion_weights_ranks_by_lift_and_embedding_as_before(
    shop: dict,
) -> None:
    retailer = UserFactory().retailer
    version = _version(shop, {}, ModelVersion.Status.ACTIVE)

    suggestions = selectors.basket_completion(
        retailer=retailer, product_ids=[shop["jam"].pk], version=version
    )

    # Half lift, half cosine: cream 0.5 * 1 + 0, scones 0.5 * log(2.2) / log(7) + 0.5 * 0.995.
    assert _names(suggestions) == ["Scones", "Clotted cream", "Tea"]
    assert all(s.reasons[0]["kind"] == "bought_with" for s in suggestions)


def test_next_item_follows_the_active_versions_weights_and_caches_per_version(buffered, shop: dict) -> None:
    user = UserFactory()
    api = APIClient()
    api.force_authenticate(user)
    by_lift = _version(shop, BY_LIFT, ModelVersion.Status.ACTIVE)
    by_popularity = _version(shop, BY_POPULARITY, ModelVersion.Status.CANDIDATE)

    def ask() -> dict:
        response = api.post(reverse("api-v1-next-item"), {"product_ids": [shop["jam"].pk]}, format="json")
        assert response.status_code == 200
        return response.json()

    first = ask()
    assert [item["product"]["name"] for item in first["results"]] == ["Clotted cream", "Tea", "Scones"]
    assert cache.get(predictions._completion_key(by_lift.pk, shop["jam"].pk)) is not None
    assert ask() == first

    publish.model_version_activate(version=by_popularity)
    answer = ask()

    assert answer["model_version"] == by_popularity.pk
    assert [item["product"]["name"] for item in answer["results"]] == ["Tea", "Scones", "Clotted cream"]
    tea = answer["results"][0]
    assert [reason["kind"] for reason in tea["reasons"]] == ["bought_with", "in_orders"]
    assert tea["reasons"][1]["label"] == "Popular"
    assert tea["sentence"].startswith("Bought with Jam in 300 of 400 orders")
    assert cache.get(predictions._completion_key(by_popularity.pk, shop["jam"].pk)) is not None


def test_a_completion_entry_cached_in_the_layout_before_popularity_is_read_again(
    buffered, shop: dict
) -> None:
    user = UserFactory()
    version = _version(shop, BY_POPULARITY, ModelVersion.Status.ACTIVE)
    # What the code before this layout wrote: (product, other, together, product_orders, lift, rank) rows.
    stale = ([(shop["jam"].pk, shop["cream"].pk, 40, 400, 6.0, 0)], b"", {})
    cache.set(f"nextitem:completion:{version.pk}:{shop['jam'].pk}", stale, 60)

    answer = predictions.next_item_predict(
        retailer=user.retailer, user=user, product_ids=[shop["jam"].pk], limit=3
    )

    assert [item.product["name"] for item in answer.results] == ["Tea", "Scones", "Clotted cream"]


def test_the_completion_signals_offline_read_the_association_rows_precompute_writes() -> None:
    # The weights are chosen on signals computed from the rows a version serves: the same cut of rows.
    assert completion.SERVED_PER_PRODUCT == precompute.ASSOCIATIONS_PER_PRODUCT
    assert completion.SERVED_MIN_TOGETHER == precompute.ASSOCIATION_MIN_TOGETHER


@pytest.mark.parametrize("seed", range(40))
def test_next_items_column_ranking_equals_the_basket_pages_row_ranking(seed: int) -> None:
    """The next-item API ranks cached columns (predictions._basket_rows, selectors.completion_order); the
    basket page ranks row objects (selectors.completion_ranking). Random baskets, rows, ties and vectors: the
    same candidates, rows, scores and shares."""
    rng = np.random.default_rng(seed)
    basket = rng.choice(np.arange(1, 40), size=rng.integers(1, 6), replace=False).tolist()
    weights = selectors.CompletionWeights(
        {name: float(rng.choice([0.0, 0.3, 1.0])) for name in completion.SIGNALS} | {"lift": 0.5},
        int(rng.integers(1, 500)),
    )
    dimension = 4
    vectors = {
        pid: rng.normal(size=dimension).astype(np.float32).tobytes()
        for pid in range(1, 60)
        if rng.random() < 0.7
    }
    rows = {}
    for pid in basket:
        others = rng.choice(np.arange(1, 60), size=rng.integers(0, 12), replace=False).tolist()
        rows[pid] = [
            (
                pid,
                other,
                int(rng.integers(1, 50)),
                int(rng.integers(50, 200)),
                int(rng.integers(1, 400)),
                1000,
                float(rng.choice([1.5, 2.0, rng.uniform(1, 9)])),
                rank,
            )
            for rank, other in enumerate(others)
        ]
    completions = {
        pid: predictions._completion_of(rows[pid], vectors.get(pid, b""), vectors) for pid in basket
    }

    columns, anchors, integers = predictions._basket_rows(basket, completions)
    basket_vectors = [np.frombuffer(vectors[pid], dtype=np.float32) for pid in basket if pid in vectors]
    order = selectors.completion_order(rows=columns, basket_vectors=basket_vectors, weights=weights)
    by_columns = [
        (predictions._association(anchors, integers, columns.lift, row), score, share)
        for row, score, share in zip(order.rows.tolist(), order.scores, order.shares.tolist(), strict=True)
    ]
    associations = sorted(
        (predictions.CachedAssociation(*row) for pid in basket for row in rows[pid] if row[1] not in basket),
        key=lambda row: row.rank,
    )
    by_rows = selectors.completion_ranking(
        basket=set(basket),
        associations=associations,
        vectors={pid: np.frombuffer(raw, dtype=np.float32) for pid, raw in vectors.items()},
        weights=weights,
    )

    assert [(a, s) for a, s, _ in by_columns] == [(c.association, c.score) for c in by_rows]
    assert np.allclose([share for *_, share in by_columns], [c.shares for c in by_rows]) or not by_rows
