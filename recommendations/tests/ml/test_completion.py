"""Basket completion as its own task: its weights, their significance gate and protocol B."""

import numpy as np
import pytest

from recommendations.ml.completion import SIGNALS, CompletionTables, combine
from recommendations.ml.evaluation import completion_metrics, split_last_basket
from recommendations.ml.hybrid import TIE_BREAK, HybridRecommender
from recommendations.ml.leaderboard import leaderboard
from recommendations.tests.ml.builders import make_data

FAST = {"neural": {"dim": 8, "epochs": 2}}
MEMBERS = ["popularity", "repeat", "association", "tifu_knn", "factorization", "content", "neural"]
BUNDLES = [list(range(100 + 5 * g, 105 + 5 * g)) for g in range(20)]


def _bundles(*, retailers: int = 200, seed: int = 0) -> object:
    """Every order is 3 products of one of 20 bundles of 5, drawn afresh each time, plus one random product
    of 59 others: what goes with the basket is plain, what a retailer orders next is not (no repeat
    signal: nobody keeps to its bundles)."""
    rng = np.random.default_rng(seed)
    spec = []
    for retailer in range(1, retailers + 1):
        for k in range(5):
            bundle = BUNDLES[int(rng.integers(len(BUNDLES)))]
            items = {int(p) for p in rng.choice(bundle, size=3, replace=False)} | {int(rng.integers(1, 60))}
            spec.append((retailer, 7 * k + int(rng.integers(0, 3)), sorted(items)))
    return make_data(spec)


def _uniform_noise(*, seed: int) -> object:
    """Six of 60 products drawn uniformly for every order: nothing in a basket says what else is in it."""
    rng = np.random.default_rng(seed)
    spec = [
        (retailer, 7 * k, sorted(int(p) for p in rng.choice(np.arange(1, 61), size=6, replace=False)))
        for retailer in range(1, 301)
        for k in range(5)
    ]
    return make_data(spec)


@pytest.fixture(scope="module")
def bundled() -> HybridRecommender:
    return HybridRecommender(members=MEMBERS, **FAST).fit(_bundles())


@pytest.mark.slow
def test_with_strong_bundles_and_no_repeat_signal_completion_gets_its_own_weights_led_by_association(
    bundled: HybridRecommender,
) -> None:
    completion = bundled.completion_weights
    assert set(completion) == set(SIGNALS)
    assert max(completion, key=completion.get) == "association"
    # The next basket has nothing to learn from the bundles: its blend leaves association out.
    assert bundled.weights["association"] == 0
    decision = bundled.validation["completion"]
    assert decision["cases"] == 200
    assert decision["single"]["association"] > 10 * decision["single"]["popularity"]
    assert decision["against"] == "association"


@pytest.mark.slow
def test_protocol_b_with_the_completion_weights_completes_bundles_on_unseen_baskets() -> None:
    train, test = split_last_basket(_bundles(seed=1))
    model = HybridRecommender(members=MEMBERS, **FAST).fit(train)

    own = completion_metrics(model.complete, model.product_ids, test)
    association = completion_metrics(model.models["association"].score, model.product_ids, test)
    popularity = completion_metrics(model.models["popularity"].score, model.product_ids, test)

    # A hidden bundle product is one of the 2 the basket lacks: the completion weights rank them first.
    assert own["completion_hit@3"] > 0.6
    assert own["completion_hit@3"] >= association["completion_hit@3"] - 0.02
    assert own["completion_hit@3"] > popularity["completion_hit@3"] + 0.4


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_on_noise_the_gate_keeps_the_best_single_completion_scorer(seed: int) -> None:
    hybrid = HybridRecommender(members=["popularity", "repeat", "association", "neural"], **FAST).fit(
        _uniform_noise(seed=seed)
    )

    decision = hybrid.validation["completion"]
    best = decision["against"]
    assert best in ("association", "popularity")
    assert decision["accepted"] is False and decision["gain_over_best_single"]["low"] <= 0
    tie_break = {"popularity": TIE_BREAK} if best != "popularity" else {}
    assert hybrid.completion_weights == {name: float(name == best) for name in SIGNALS} | tie_break
    assert decision["serves"] == best


def test_the_saved_hybrid_keeps_its_completion_weights_and_scores(
    bundled: HybridRecommender, tmp_path: object
) -> None:
    bundled.save(tmp_path)
    loaded = HybridRecommender.load(tmp_path)
    baskets = [[100, 101], [150]]

    assert loaded.completion_weights == bundled.completion_weights
    np.testing.assert_allclose(loaded.complete([1, 2], baskets), bundled.complete([1, 2], baskets))
    assert bundled.completion_serving() == {
        "weights": bundled.completion_weights,
        "top_orders": int(bundled.models["association"].item_orders.max()),
    }


def test_completion_signals_are_those_the_live_answer_computes_from_association_rows(
    bundled: HybridRecommender,
) -> None:
    association = bundled.models["association"]
    tables = CompletionTables.from_models(association, bundled.models["neural"])
    basket = association.product_rows([100, 101])
    signals = tables.signals([basket])
    pairs = association.bought_together(min_together=3, top=20)
    rows = pairs[pairs["product"].isin([100, 101])]

    confidence = rows.groupby("other")["confidence"].sum()
    best_lift = np.log1p(rows.groupby("other")["lift"].max())
    columns = association.product_rows(confidence.index.to_list())
    np.testing.assert_allclose(signals["association"][0, columns], confidence.to_numpy())
    np.testing.assert_allclose(signals["lift"][0, columns], best_lift.to_numpy())
    outside = np.setdiff1d(np.arange(len(association.product_ids)), columns)
    assert not signals["association"][0, outside].any() and not signals["lift"][0, outside].any()
    score, parts = combine({"association": 1.0, "popularity": 0.5}, **signals)
    np.testing.assert_allclose(score, parts["association"] + parts["popularity"])
    assert parts["association"].max() == pytest.approx(1.0)


@pytest.mark.slow
def test_the_leaderboard_scores_the_hybrids_completion_with_its_completion_weights() -> None:
    board = leaderboard(_bundles(seed=2), hybrid_params=FAST)

    weights = board["completion_weights"]
    assert max(weights, key=weights.get) == "association"
    rows = {row["name"]: row["metrics"] for row in board["models"]}
    assert rows["hybrid"]["completion_hit@3"] >= rows["association"]["completion_hit@3"] - 0.02
    assert set(board["completion_vs"]) == {"association", "popularity"}
    gain = board["completion_vs"]["popularity"]["completion_hit@10"]
    assert gain["low"] > 0 and gain["units"] == rows["hybrid"]["completion_cases"]
    assert board["selection"]["completion"]["against"] == "association"
