import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from recommendations.ml.evaluation import split_last_basket
from recommendations.ml.hybrid import TIE_BREAK, HybridRecommender, ndcg_per_row
from recommendations.ml.serving import complete_basket
from recommendations.tests.ml.builders import make_data, random_baskets

FAST = {"neural": {"dim": 8, "epochs": 2}}


def _shop() -> object:
    """30 retailers with stable personal habits (each buys its own 3 products) plus bread+butter pairs."""
    spec = []
    for retailer in range(1, 31):
        own = [10 + retailer % 10, 20 + retailer % 7, 30 + retailer % 5]
        for k in range(5):
            spec.append((retailer, 7 * k + retailer % 3, [*own, *([1, 2] if k % 2 else [])]))
    return make_data(spec)


@pytest.fixture(scope="module")
def hybrid() -> HybridRecommender:
    return HybridRecommender(**FAST).fit(_shop())


def test_the_blend_is_never_worse_than_the_best_single_model_on_validation(hybrid: HybridRecommender) -> None:
    singles = [v["ndcg@10"] for k, v in hybrid.validation.items() if k in hybrid.models]
    assert hybrid.validation["blend"]["ndcg@10"] >= max(singles)
    assert hybrid.validation["hybrid"]["ndcg@10"] >= max(singles) - 1e-9 or hybrid.reranker is not None


def test_recommendations_carry_evidence_whose_weights_sum_to_one(hybrid: HybridRecommender) -> None:
    recs = hybrid.recommend([1], n=5)
    assert [r.rank for r in recs] == [1, 2, 3, 4, 5]
    assert {r.product for r in recs[:3]} == {11, 21, 31}
    for rec in recs:
        assert sum(reason.weight for reason in rec.reasons) == pytest.approx(1, abs=1e-3)
        assert [r.weight for r in rec.reasons] == sorted((r.weight for r in rec.reasons), reverse=True)
    kinds = {reason.kind for reason in recs[0].reasons}
    assert kinds & {"repeat", "due", "neighbours"}
    repeat = next(r for r in recs[0].reasons if r.kind in ("repeat", "due"))
    assert repeat.facts["times_ordered"] == 5


def test_new_for_excludes_what_the_retailer_bought_and_cold_retailers_get_popular(
    hybrid: HybridRecommender,
) -> None:
    bought = {11, 21, 31, 1, 2}
    assert not {r.product for r in hybrid.new_for([1], n=10)} & bought
    cold = hybrid.recommend([12345], n=3)
    assert cold and all(r.retailer == 12345 for r in cold)
    assert {"popular"} <= {reason.kind for r in cold for reason in r.reasons}


def test_every_list_carries_a_probability_within_0_and_1_except_a_live_basket(
    hybrid: HybridRecommender,
) -> None:
    assert set(hybrid.calibrators) == {"for_you", "new_for_you", "popular"}
    lists = [hybrid.recommend([1, 2], n=10), hybrid.new_for([1, 2], n=10), hybrid.recommend([12345], n=5)]
    for recs in lists:
        assert recs and all(0 <= rec.probability <= 1 for rec in recs)
    # Each retailer's own three products head its list and come back in nearly every order.
    assert min(rec.probability for rec in lists[0][:3]) > max(rec.probability for rec in lists[1])
    assert all(rec.probability is None for rec in hybrid.recommend([1], n=5, baskets=[[11]]))


def test_the_saved_hybrid_loads_with_identical_recommendations(
    hybrid: HybridRecommender, tmp_path: Path
) -> None:
    digest = hybrid.save(tmp_path)
    loaded = HybridRecommender.load(tmp_path)
    assert len(digest) == 64
    assert loaded.recommend([1, 2], n=5) == hybrid.recommend([1, 2], n=5)
    assert loaded.new_for([1, 2], n=5) == hybrid.new_for([1, 2], n=5)
    assert loaded.weights == hybrid.weights


def test_basket_completion_in_serving_needs_no_tensorflow(hybrid: HybridRecommender, tmp_path: Path) -> None:
    artifacts = hybrid.serving_artifacts()
    np.savez(tmp_path / "serving.npz", **artifacts)
    rows = hybrid.bought_together(min_together=1).to_dict("records")
    recs = complete_basket(artifacts, [1], n=3, association_rows=rows)
    assert recs[0].product == 2
    assert recs[0].reasons[0].kind in {"bought_with", "sequence"}
    script = (
        "import sys, numpy as np\n"
        "from recommendations.ml.serving import complete_basket\n"
        f"a = dict(np.load({str(tmp_path / 'serving.npz')!r}))\n"
        "complete_basket(a, [1], n=3)\n"
        "assert 'tensorflow' not in sys.modules, 'serving imported TensorFlow'\n"
        "import recommendations.ml\n"
        "assert 'tensorflow' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=Path(__file__).parents[3])


def test_due_and_similar_products_are_exposed(hybrid: HybridRecommender) -> None:
    from datetime import date

    due = hybrid.due([1], as_of=date(2024, 2, 5))
    assert {d.product for d in due} >= {11, 21, 31}
    assert set(hybrid.similar_products(top=2).columns) == {"product", "other", "similarity"}


def test_splitting_never_puts_a_test_basket_into_training() -> None:
    data = _shop()
    train, test = split_last_basket(data)
    last_orders = data.view.orders.query("recency == 0 and n_orders >= 2")["order"]
    assert not set(train.interactions["order"]) & set(last_orders)
    assert len(test.retailers) == 30
    validation_train, validation = split_last_basket(train)
    assert (
        validation_train.interactions["ts"]
        .groupby(validation_train.interactions["retailer"])
        .max()
        .lt(train.interactions["ts"].groupby(train.interactions["retailer"]).max())
        .all()
    )
    assert len(validation.retailers) == 30


def test_fitting_on_the_training_split_leaves_test_baskets_unseen() -> None:
    data = _shop()
    train, _test = split_last_basket(data)
    model = HybridRecommender(members=["popularity", "repeat", "association"]).fit(train)
    repeat = model.models["repeat"]
    assert repeat.times.sum() == len(train.view.lines)
    assert repeat.orders_total.sum() == len(train.view.orders)


def test_with_no_personal_signal_the_engine_does_no_worse_than_popularity() -> None:
    data = random_baskets(retailers=150, orders=5, products=60, basket=6, seed=3)
    train, test = split_last_basket(data)
    hybrid = HybridRecommender(**FAST).fit(train)
    popularity = hybrid.models["popularity"]
    relevant = np.zeros((len(test.retailers), len(popularity.product_ids)), dtype=bool)
    for i, basket in enumerate(test.baskets):
        relevant[i, popularity.product_rows(sorted(basket))] = True
    engine = ndcg_per_row(hybrid.score(test.retailers), relevant).mean()
    baseline = ndcg_per_row(popularity.score(test.retailers), relevant).mean()
    assert engine >= baseline - 0.01


def test_the_significance_gate_keeps_the_best_single_model_when_a_blend_gains_only_noise() -> None:
    # No personal signal: every retailer draws from one shared popularity, so whatever a second model adds to
    # the best one on validation is chance, and the search over ~200 weight changes finds some of it.
    members = ["popularity", "repeat", "association", "tifu_knn", "factorization", "content"]
    data = random_baskets(retailers=300, orders=5, products=60, basket=6, seed=11)

    hybrid = HybridRecommender(members=members).fit(data)

    best = hybrid.validation_best_single
    tie_break = {"popularity": TIE_BREAK} if best != "popularity" else {}
    assert hybrid.weights == {name: float(name == best) for name in members} | tie_break
    assert hybrid.reranker is None
    gate = hybrid.validation["blend"]
    assert gate["against"] == best and gate["accepted"] is False
    assert gate["gain_over_best_single"]["low"] <= 0
    assert gate["gain_over_best_single"]["units"] == 300
    assert hybrid.validation["hybrid"]["serves"] == best


def _staples_and_fresh_finds(*, retailers: int, seed: int) -> object:
    """Each retailer sticks to one of 10 categories of 20 products: every order holds 3 of its 4 staples (the
    repeat model's signal) and 2 products of its category it never bought before (which only what the other
    retailers of the category bought points to)."""
    rng = np.random.default_rng(seed)
    categories = {100 + 20 * c + j: f"category {c}" for c in range(10) for j in range(20)}
    spec = []
    for retailer in range(1, retailers + 1):
        category = int(rng.integers(0, 10))
        pool = list(range(100 + 20 * category, 120 + 20 * category))
        staples = [int(p) for p in rng.choice(pool, size=4, replace=False)]
        fresh = [p for p in pool if p not in staples]
        rng.shuffle(fresh)
        for k in range(6):
            items = {int(p) for p in rng.choice(staples, size=3, replace=False)} | set(
                fresh[2 * k : 2 * k + 2]
            )
            spec.append((retailer, 7 * k, sorted(items)))
    return make_data(spec, categories=categories)


def test_the_significance_gate_keeps_a_blend_and_a_re_ranker_whose_gain_is_real() -> None:
    members = ["popularity", "repeat", "association", "tifu_knn", "factorization", "content"]

    hybrid = HybridRecommender(members=members).fit(_staples_and_fresh_finds(retailers=300, seed=0))

    blend = hybrid.validation["blend"]
    assert blend["accepted"] is True and blend["gain_over_best_single"]["low"] > 0
    assert sum(weight > 0 for weight in hybrid.weights.values()) >= 2
    reranker = hybrid.validation["reranker"]
    assert reranker["accepted"] is True and reranker["gain_over_best_single"]["low"] > 0
    assert hybrid.reranker is not None and hybrid.validation["hybrid"]["serves"] == "reranker"


def _staples_on_cadences(*, retailers: int, seed: int) -> object:
    """Each retailer orders weekly from its own 8 staples, each in every 2nd, 3rd or 4th order: which staples
    the next order holds follows from each one's cadence and last order, which the repeat model's frequency
    weighs only in part and no second model adds to (nobody else buys them)."""
    rng = np.random.default_rng(seed)
    spec = []
    for retailer in range(1, retailers + 1):
        staples = [1000 * retailer + j for j in range(8)]
        periods = [int(p) for p in rng.choice([2, 3, 4], size=8)]
        phases = [int(rng.integers(0, p)) for p in periods]
        for k in range(12):
            items = [s for s, p, f in zip(staples, periods, phases, strict=True) if k % p == f]
            spec.append((retailer, 7 * k, items))
    return make_data(spec)


def test_when_the_gate_refuses_the_blend_the_re_ranker_is_tried_over_the_best_single_model() -> None:
    hybrid = HybridRecommender(members=["popularity", "repeat"]).fit(
        _staples_on_cadences(retailers=150, seed=0)
    )

    assert hybrid.validation["blend"]["accepted"] is False
    reranker = hybrid.validation["reranker"]
    assert reranker["against"] == "repeat" and reranker["accepted"] is True
    assert reranker["gain_over_best_single"]["low"] > 0
    assert hybrid.reranker is not None and hybrid.validation["hybrid"]["serves"] == "reranker"
