import numpy as np
import pandas as pd
import pytest

from recommendations.ml.data import TrainingData
from recommendations.ml.diversity import (
    NDCG_TOLERANCE,
    ItemAspects,
    LambdaTrial,
    choose_lambda,
    intra_list_diversity,
    mmr,
    pair_similarity,
)
from recommendations.ml.evaluation import split_last_basket
from recommendations.ml.hybrid import HybridRecommender
from recommendations.ml.sections import FOR_YOU, NEW_FOR_YOU, due_products, lay_out, sections_report
from recommendations.tests.ml.builders import START

# No TensorFlow: the three members that carry this world's signals.
MEMBERS = ["popularity", "repeat", "content"]
LEMONADES = list(range(1, 11))  # one family, one vendor, one category
OTHERS = list(range(11, 23))  # six categories, three vendors
CATEGORIES = ["Water", "Juices", "Bread", "Dairy", "Snacks", "Cleaning"]


def _family_world() -> TrainingData:
    """40 retailers who each buy two lemonades and one or two other products on a weekly rhythm; the
    lemonade family is by far the most popular, so an undiversified "new for you" is all lemonades."""
    rng = np.random.default_rng(3)
    rows, order = [], 0
    for retailer in range(1, 41):
        lemonades = rng.choice(LEMONADES, size=2, replace=False)
        others = rng.choice(OTHERS, size=2, replace=False)
        for week in range(6):
            order += 1
            basket = [*lemonades, *(others if week % 2 else others[:1])]
            day = START + pd.Timedelta(days=7 * week + retailer % 4)
            rows += [(retailer, order, int(p), day, 1.0) for p in set(basket)]
    interactions = pd.DataFrame(rows, columns=["retailer", "order", "product", "ts", "quantity"])
    products = pd.DataFrame(
        {
            "name": [f"Brightwell Lemonade {p} x12" for p in LEMONADES]
            + [f"{CATEGORIES[i % 6]} item {p}" for i, p in enumerate(OTHERS)],
            "description": "",
            "category": ["Soft drinks"] * len(LEMONADES) + [CATEGORIES[i % 6] for i in range(len(OTHERS))],
            "vendor": ["Brightwell"] * len(LEMONADES) + [f"Vendor {i % 3}" for i in range(len(OTHERS))],
            "price": 1.0,
            "first_seen": START,
        },
        index=pd.Index(LEMONADES + OTHERS, name="product"),
    )
    retailers = pd.DataFrame({"segment": "", "region": ""}, index=pd.Index(range(1, 41), name="retailer"))
    return TrainingData(interactions, products, retailers)


@pytest.fixture(scope="module")
def world() -> TrainingData:
    return _family_world()


@pytest.fixture(scope="module")
def hybrid(world: TrainingData) -> HybridRecommender:
    return HybridRecommender(members=MEMBERS).fit(world)


def test_mmr_keeps_the_rankers_order_at_lambda_one_and_spreads_a_dominated_list_below_it() -> None:
    # Eight near-identical products of one family lead the ranking; four different ones follow.
    relevance = np.linspace(1.0, 0.7, 12)
    family = np.array([0] * 8 + [1, 2, 3, 4])
    content = np.where(family[:, None] == family[None, :], 0.9, 0.05)
    np.fill_diagonal(content, 1)
    aspects = ItemAspects(category=family.copy(), vendor=np.where(family == 0, 0, 1))
    similarity = pair_similarity(content, np.arange(12), aspects)

    assert mmr(relevance, similarity, lam=1.0, k=8).tolist() == list(range(8))
    diversified = mmr(relevance, similarity, lam=0.6, k=8)
    assert diversified[0] == 0
    assert len(set(family[diversified])) == 5
    before = intra_list_diversity(np.arange(8), content[:8, :8], aspects)
    after = intra_list_diversity(diversified, content[np.ix_(diversified, diversified)], aspects)
    assert before["category"] == 0 and after["category"] > 0.5
    assert after["content"] > before["content"]


def test_unknown_categories_and_vendors_leave_content_as_the_only_aspect() -> None:
    content = np.array([[1.0, 0.2], [0.2, 1.0]])
    unknown = ItemAspects.unknown(2)

    assert pair_similarity(content, np.arange(2), unknown)[0, 1] == pytest.approx(0.2)
    diversity = intra_list_diversity(np.arange(2), content, unknown)
    assert diversity == {"category": None, "vendor": None, "content": pytest.approx(0.8)}


def test_lambda_is_the_most_diverse_one_within_the_tolerance_of_the_rankers_order() -> None:
    trials = [
        LambdaTrial(1.0, 0.400, 0.20),
        LambdaTrial(0.8, 0.400 * (1 - NDCG_TOLERANCE) + 1e-6, 0.40),
        LambdaTrial(0.5, 0.300, 0.70),
    ]
    assert choose_lambda(trials) == 0.8
    # No diversity to gain: the ranker's order stays.
    assert choose_lambda([LambdaTrial(1.0, 0.4, 0.3), LambdaTrial(0.5, 0.4, 0.3)]) == 1.0


def test_new_for_you_from_a_dominant_family_is_diversified(hybrid: HybridRecommender) -> None:
    plain = hybrid.new_for([1], n=6, mmr_lambda=1.0, explain=False)
    diversified = hybrid.new_for([1], n=6, mmr_lambda=0.5, explain=False)

    lemonades = lambda recs: sum(rec.product in LEMONADES for rec in recs)  # noqa: E731
    assert lemonades(plain) == 6
    assert lemonades(diversified) <= 3
    assert diversified[0].product == plain[0].product
    assert [rec.rank for rec in diversified] == list(range(1, 7))


def test_lambda_is_chosen_on_the_validation_baskets_and_recorded_with_its_trials(world: TrainingData) -> None:
    train, test = split_last_basket(world)
    model = HybridRecommender(members=MEMBERS).fit(train)
    validation = split_last_basket(train)[1]

    for surface in (FOR_YOU, NEW_FOR_YOU):
        choice = model.diversity[surface]
        assert choice["lambda"] in [trial["lambda"] for trial in choice["trials"]]
        assert "validation ndcg@10" in choice["rule"]
    # "For you" is scored on every validation basket, none of them a test basket.
    assert model.diversity[FOR_YOU]["validation_baskets"] == len(validation.retailers)
    assert set(validation.retailers) == set(test.retailers)
    report = sections_report(model, test, as_of=train.view.cutoff.date())
    used = {row["surface"]: row["lambda"] for row in report["rows"] if row["variant"] == "laid out + MMR"}
    assert used == {FOR_YOU: model.mmr_lambda(FOR_YOU), NEW_FOR_YOU: model.mmr_lambda(NEW_FOR_YOU)}


def test_laid_out_lists_show_each_product_once(hybrid: HybridRecommender, world: TrainingData) -> None:
    retailers = [*range(1, 41), 999]  # and a retailer without orders
    due = due_products(hybrid.due(retailers, as_of=world.view.cutoff.date()))
    sections = lay_out(hybrid, retailers, due=due, for_you_count=8, new_count=8)

    assert any(due.values())
    for retailer in retailers:
        for_you = {rec.product for rec in sections.for_you if rec.retailer == retailer}
        new = {rec.product for rec in sections.new_for_you if rec.retailer == retailer}
        assert for_you and not for_you & set(due.get(retailer, ()))
        assert not for_you & new


def test_the_diversity_choice_survives_save_and_load(hybrid: HybridRecommender, tmp_path) -> None:
    hybrid.save(tmp_path)
    loaded = HybridRecommender.load(tmp_path)

    assert loaded.diversity == hybrid.diversity
    assert loaded.new_for([3], n=6, mmr_lambda=0.5) == hybrid.new_for([3], n=6, mmr_lambda=0.5)
