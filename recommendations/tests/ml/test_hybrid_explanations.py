"""Explanations of the hybrid's ranked products: a reason per member that contributes to a product, and the
re-ranker's top features for the products it ordered, recomputed from the rows' features."""

import numpy as np
import pytest

from recommendations.ml.hybrid import RANKING_FEATURES, HybridRecommender, normalise_rows
from recommendations.ml.reranker import Reranker, candidate_features, feature_names
from recommendations.tests.ml.test_hybrid import FAST, _shop, _staples_and_fresh_finds

MEMBERS = ["popularity", "repeat", "association", "tifu_knn", "factorization", "content"]
# A member's share of a product's blend from which it must give a reason (smaller shares are not shown).
SHOWN_SHARE = 0.01


@pytest.fixture(scope="module")
def reranked() -> HybridRecommender:
    hybrid = HybridRecommender(members=MEMBERS).fit(_staples_and_fresh_finds(retailers=300, seed=0))
    assert hybrid.reranker is not None and sum(w > 0 for w in hybrid.weights.values()) >= 2
    return hybrid


def _kinds(hybrid: HybridRecommender, member: str) -> set[str]:
    """The reason kinds a member's evidence is given as."""
    return {"repeat", "due", "in_orders"} if member == "repeat" else {hybrid.models[member].kind}


def _shares(hybrid: HybridRecommender, retailers: list[int]) -> dict[str, np.ndarray]:
    """Each member's share of the blend, per (retailer, product row)."""
    parts = {
        name: weight * normalise_rows(hybrid.models[name].score(retailers))
        for name, weight in hybrid.weights.items()
        if weight > 0
    }
    total = sum(parts.values())
    return {
        name: np.divide(part, total, out=np.zeros_like(part), where=total > 0) for name, part in parts.items()
    }


def test_every_member_that_contributes_to_a_blended_product_gives_its_reason(
    reranked: HybridRecommender,
) -> None:
    retailers = [int(r) for r in reranked.models["repeat"].retailer_ids[:60]]
    shares = _shares(reranked, retailers)

    recs = reranked.recommend(retailers, n=10)

    blended = 0
    for rec in recs:
        i, item = retailers.index(rec.retailer), int(reranked.product_rows_of([rec.product])[0])
        contributing = [name for name, share in shares.items() if share[i, item] >= SHOWN_SHARE]
        kinds = {reason.kind for reason in rec.reasons}
        for name in contributing:
            assert kinds & _kinds(reranked, name), (rec, name)
        blended += len(contributing) >= 2
    assert blended >= len(recs) // 2


def test_a_product_the_repeat_model_ranks_by_popularity_cites_the_orders_it_is_in() -> None:
    data = _shop()
    hybrid = HybridRecommender(**FAST).fit(data)
    assert hybrid.validation["hybrid"]["serves"] == "repeat"
    orders_with = data.interactions.groupby("product")["order"].nunique()
    n_orders = data.interactions["order"].nunique()

    recs = hybrid.recommend([1], n=10)

    never_bought = [rec for rec in recs if rec.product not in {11, 21, 31, 1, 2}]
    assert never_bought
    for rec in never_bought:
        reason = next(reason for reason in rec.reasons if reason.kind == "in_orders")
        assert reason.facts == {"orders": int(orders_with[rec.product]), "n_orders": int(n_orders)}


def test_the_re_rankers_feature_shares_add_up_to_its_log_odds_and_favour_the_informative_feature() -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(60, 50, 4)).astype("float32")
    labels = features[..., 1] + 0.3 * rng.normal(size=(60, 50)) > 1
    reranker = Reranker().fit(features, labels)

    bias, shares = reranker.contributions(features)

    log_odds = reranker.model.decision_function(features.reshape(-1, 4)).reshape(60, 50)
    np.testing.assert_allclose(bias + shares.sum(axis=2), log_odds, atol=1e-9)
    size = np.abs(shares).mean(axis=(0, 1))
    assert int(np.argmax(size)) == 1 and size[1] > 3 * size[[0, 2, 3]].max()


def test_where_the_re_ranker_orders_a_product_its_top_features_are_recomputable_from_the_row(
    reranked: HybridRecommender,
) -> None:
    retailers = [int(r) for r in reranked.models["repeat"].retailer_ids[:40]]
    models = reranked.models
    parts = {name: normalise_rows(model.score(retailers)) for name, model in models.items()}
    blend = sum(reranked.weights[name] * parts[name] for name in parts)
    candidates, features = candidate_features(models, parts, blend, models["repeat"].retailer_rows(retailers))
    names = feature_names(models)
    assert reranked.feature_names() == names and len(names) == features.shape[2]

    recs = reranked.recommend(retailers, n=10)

    assert all(len(rec.ranking) == RANKING_FEATURES for rec in recs)
    for rec in recs:
        i = retailers.index(rec.retailer)
        j = int(np.flatnonzero(candidates[i] == reranked.product_rows_of([rec.product])[0])[0])
        row = features[i, j]
        bias, shares = reranked.reranker.contributions(row)
        assert bias + shares.sum() == pytest.approx(
            float(reranked.reranker.model.decision_function(row[None])[0])
        )
        top = np.argsort(-np.abs(shares), kind="stable")[:RANKING_FEATURES]
        assert [f.name for f in rec.ranking] == [names[f] for f in top]
        for feature, column in zip(rec.ranking, top, strict=True):
            assert feature.value == pytest.approx(float(row[column]), abs=1e-4)
            assert feature.contribution == pytest.approx(float(shares[column]), abs=1e-4)


def test_lists_the_re_ranker_did_not_order_carry_no_ranking_features(reranked: HybridRecommender) -> None:
    cold = reranked.recommend([987654], n=5)
    basket = reranked.recommend([1], n=5, baskets=[[100, 101]])
    new = reranked.new_for([1], n=5)

    assert cold and basket and new
    assert all(rec.ranking == () for rec in cold + basket + new)
