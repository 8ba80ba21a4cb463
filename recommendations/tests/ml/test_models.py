from datetime import date
from pathlib import Path

import numpy as np
import pytest

from recommendations.ml.artifacts import ArtifactError
from recommendations.ml.association import AssociationModel
from recommendations.ml.content import ContentModel
from recommendations.ml.factorization import FactorizationModel
from recommendations.ml.neighbours import NeighbourModel
from recommendations.ml.neural import NeuralModel
from recommendations.ml.popularity import OwnTopModel, PopularityModel
from recommendations.ml.repeat import RepeatModel
from recommendations.tests.ml.builders import make_data

# Products: 1 bread, 2 butter (always with bread), 3 milk (everybody), 4 tea, 5 coffee, 6 cake.
SHOP = make_data(
    [
        (1, 0, [1, 2, 3]),
        (1, 7, [1, 2, 3]),
        (1, 14, [3, 4]),
        (2, 0, [1, 2, 3]),
        (2, 5, [3, 5]),
        (2, 9, [1, 2]),
        (3, 1, [3, 4, 6]),
        (3, 8, [3, 4, 6]),
        (4, 2, [1, 3]),
    ]
)


def test_popularity_ranks_the_product_most_retailers_buy_first() -> None:
    model = PopularityModel().fit(SHOP)
    assert model.recommend([1], n=1) == [[3]]
    assert model.explain(0, 2, np.array([], dtype=int))["retailers"] == 4


def test_popularity_uses_the_retailers_segment_when_it_is_large_enough() -> None:
    data = make_data(
        [(1, 0, [1]), (2, 0, [1]), (3, 0, [1]), (4, 0, [2]), (5, 0, [2])],
        segments={1: "cafe", 2: "cafe", 3: "cafe", 4: "bakery", 5: "bakery"},
    )
    model = PopularityModel(min_scope_retailers=2, scope_weight=2.0).fit(data)
    assert model.recommend([4], n=1) == [[2]]
    assert model.recommend([1], n=1) == [[1]]
    assert model.explain(3, 1, np.array([], dtype=int))["scope"] == "segment"


def test_own_top_ranks_the_retailers_most_frequent_products_first() -> None:
    assert OwnTopModel().fit(SHOP).recommend([3], n=3) == [[3, 4, 6]]


def test_repeat_prefers_the_more_recent_of_two_equally_frequent_products() -> None:
    data = make_data([(1, 0, [1]), (1, 10, [1]), (1, 20, [2]), (1, 30, [2]), (2, 0, [3])])
    assert RepeatModel(trend_weight=0).fit(data).recommend([1], n=2) == [[2, 1]]


def test_repeat_predicts_the_next_order_of_a_product_from_its_cadence() -> None:
    data = make_data([(1, 0, [1, 2]), (1, 7, [1]), (1, 14, [1]), (1, 21, [1, 2])])
    due = RepeatModel().fit(data).due([1], as_of=date(2024, 1, 29))
    by_product = {d.product: d for d in due}
    assert by_product[1].cadence_days == 7
    assert by_product[1].expected_date == date(2024, 1, 29)
    assert by_product[1].times_ordered == 4
    assert by_product[1].last_ordered == date(2024, 1, 22)
    assert by_product[1].confidence > 0.9
    assert by_product[2].cadence_days == 21
    assert by_product[2].confidence < by_product[1].confidence


def test_association_completes_bread_with_butter_and_explains_it_with_true_counts() -> None:
    model = AssociationModel(min_together=1).fit(SHOP)
    assert model.recommend([4], n=1, baskets=[[1]]) == [[2]]
    facts = model.explain(3, 1, np.array([0]))
    # Bread is in 5 of the 9 orders, butter in 4, both in 4: lift = 4 * 9 / (5 * 4).
    assert facts == {"anchor": 1, "together": 4, "anchor_orders": 5, "lift": 1.8}


def test_bought_together_reports_support_confidence_and_lift() -> None:
    frame = AssociationModel(min_together=1).fit(SHOP).bought_together(min_together=3)
    row = frame[(frame["product"] == 1) & (frame["other"] == 2)].iloc[0]
    assert (row["together"], row["product_orders"], row["other_orders"], row["n_orders"]) == (4, 5, 4, 9)
    assert row["support"] == pytest.approx(4 / 9)
    assert row["confidence"] == pytest.approx(4 / 5)
    assert row["lift"] == pytest.approx(1.8)


def test_neighbours_suggest_what_similar_retailers_buy() -> None:
    data = make_data(
        [(1, 0, [1, 2]), (2, 0, [1, 2, 5]), (3, 0, [1, 2, 5]), (4, 0, [3, 4]), (5, 0, [3, 4, 6])]
    )
    model = NeighbourModel(k=2, trend_weight=0).fit(data)
    scores = model.score([1])[0]
    unbought = [p for p in model.product_ids[np.argsort(-scores)] if p not in (1, 2)]
    assert unbought[0] == 5
    assert model.explain(0, 4, np.array([], dtype=int)) == {"neighbours_bought": 2, "neighbours": 2}


def test_factorisation_ranks_the_product_of_retailers_with_the_same_taste() -> None:
    data = make_data(
        [(1, 0, [1, 2]), (2, 0, [1, 2, 5]), (3, 0, [1, 2, 5]), (4, 0, [3, 4, 6]), (5, 0, [3, 4, 6])]
    )
    model = FactorizationModel(factors=2).fit(data)
    scores = model.score([1])[0]
    assert scores[model.product_rows([5])[0]] > scores[model.product_rows([6])[0]]


def test_content_recommends_an_unsold_product_similar_to_what_the_retailer_buys() -> None:
    data = make_data(
        [(1, 0, [1]), (1, 5, [1, 2]), (2, 0, [3])],
        names={1: "red ceramic mug", 2: "tea towel", 3: "garden hose", 7: "blue ceramic mug", 8: "hose reel"},
        extra_products=[7, 8],
        first_seen={7: 30, 8: 30},
    )
    model = ContentModel().fit(data)
    scores = model.score([1])[0]
    assert scores[model.product_rows([7])[0]] > scores[model.product_rows([8])[0]]
    similar = model.similar_products(top=1)
    assert similar[similar["product"] == 1]["other"].tolist() == [7]
    facts = model.explain(0, int(model.product_rows([7])[0]), np.array([], dtype=int))
    assert facts["anchor"] == 1 and facts["is_new"] == 1


def test_neural_model_learns_that_cake_follows_tea() -> None:
    spec = []
    for retailer in range(1, 21):
        for k in range(4):
            spec.append((retailer, 10 * k, [4]))
            spec.append((retailer, 10 * k + 5, [6]))
    data = make_data([*spec, (99, 0, [1, 2, 3, 5])])
    model = NeuralModel(dim=16, epochs=30, batch_size=32).fit(data)
    assert model.recommend([1], n=1, baskets=[[4]]) == [[6]]


MODELS = [
    PopularityModel(),
    OwnTopModel(),
    RepeatModel(),
    AssociationModel(min_together=1),
    NeighbourModel(k=2),
    FactorizationModel(factors=2),
    ContentModel(),
    NeuralModel(dim=8, epochs=1),
]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_a_saved_model_loads_with_identical_scores(model, tmp_path: Path) -> None:
    model.fit(SHOP)
    digest = model.save(tmp_path)
    loaded = type(model).load(tmp_path)
    assert len(digest) == 64
    np.testing.assert_allclose(
        loaded.score([1, 2, 77], [[1], [], [3]]), model.score([1, 2, 77], [[1], [], [3]])
    )


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_no_model_cites_a_product_as_the_reason_for_itself(model) -> None:
    model.fit(SHOP)
    no_basket = np.array([], dtype=int)
    rows = model.retailer_rows([1, 2, 3, 4])

    cited = [
        (int(row), item, facts["anchor"])
        for row in rows
        for item in range(len(model.product_ids))
        if (facts := model.explain(int(row), item, no_basket)) and "anchor" in facts
    ]

    # Retailers' histories contain the products being explained: the anchor is always another product.
    assert all(anchor != int(model.product_ids[item]) for _, item, anchor in cited)


def test_loading_refuses_a_modified_bundle(tmp_path: Path) -> None:
    RepeatModel().fit(SHOP).save(tmp_path)
    with open(tmp_path / "arrays.npz", "ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(ArtifactError):
        RepeatModel.load(tmp_path)


def test_loading_refuses_another_models_bundle(tmp_path: Path) -> None:
    RepeatModel().fit(SHOP).save(tmp_path)
    with pytest.raises(ValueError, match="repeat"):
        PopularityModel.load(tmp_path)
