import itertools

import numpy as np
import pytest

from recommendations import explanations
from recommendations.ml.content import ContentModel, content_words
from recommendations.ml.similarity_eval import head_noun, similar_pair_shares
from recommendations.tests.ml.builders import make_data

ITEMS = {
    "Soft drinks": ["Lemonade", "Cola", "Ginger Beer"],
    "Cleaning": ["Bleach", "Surface Spray", "Bin Bags"],
    "Dairy": ["Butter", "Oat Milk", "Double Cream"],
}
BRANDS = ["Brightwell", "Kestrel", "Fenwick"]
RANGES = ["Premium", "Value", "Organic"]


def _branded_catalogue():
    """Every brand sells every item, in one pack size: only the item words tell what a product is."""
    names, descriptions, categories = {}, {}, {}
    grid = itertools.product(ITEMS.items(), enumerate(BRANDS))
    product = 0
    for (category, items), (b, brand) in grid:
        for i, item in enumerate(items):
            product += 1
            label = RANGES[(b + i) % len(RANGES)]
            names[product] = f"{brand} {label} {item} x12"
            descriptions[product] = f"{item} by {brand} ({label.lower()}), case of 12."
            categories[product] = category
    data = make_data(
        [(1, 0, [1])],
        names=names,
        descriptions=descriptions,
        categories=categories,
        extra_products=list(names),
    )
    return data, names, categories


def _similarity(model: ContentModel, a: int, b: int) -> float:
    rows = model.product_rows([a, b])
    return float((model.item_kind[rows[0]] @ model.item_kind[rows[1]].T).toarray()[0, 0])


def test_pack_size_counts_and_stop_words_are_not_content_words() -> None:
    words = content_words("Brightwell Lemonade x12 500ml 6pk 1.5l, case of 24 and 12x")
    assert words == ["brightwell", "lemonade"]


def test_a_brand_and_pack_size_shared_across_categories_do_not_make_products_similar() -> None:
    data, names, categories = _branded_catalogue()
    model = ContentModel().fit(data)
    lemonade = next(p for p, name in names.items() if name.startswith("Brightwell") and "Lemonade" in name)
    bleach = next(p for p, name in names.items() if name.startswith("Brightwell") and "Bleach" in name)
    other_lemonade = next(p for p, name in names.items() if name.startswith("Kestrel") and "Lemonade" in name)

    assert _similarity(model, lemonade, bleach) < 0.05
    assert _similarity(model, lemonade, other_lemonade) > 0.6
    similar = model.similar_products(top=8)
    for product, group in similar.groupby("product"):
        # The 8 others of a category come first, the same brand's products elsewhere after them.
        assert {categories[other] for other in group["other"]} == {categories[product]}
    top = similar[similar["product"] == lemonade].iloc[0]
    assert "Lemonade" in names[int(top["other"])]


def test_without_categories_only_shared_words_make_products_similar() -> None:
    names = {
        1: "Still Spring Water 500ml x12",
        2: "Chickpeas 500ml x12",
        3: "Napkins x12",
        4: "Sparkling Water 1.5l 6pk",
        5: "Hartley Choc Ice x12",
        6: "Hartley Napkins x24",
    }
    data = make_data(
        [(1, 0, [1, 2])],
        names=names,
        vendors={5: "Hartley Foods", 6: "Hartley Foods"},
        extra_products=list(names),
    )
    model = ContentModel().fit(data)
    assert _similarity(model, 1, 2) < 0.05
    # The vendor's name in two of its product names is not a resemblance.
    assert _similarity(model, 5, 6) < 0.05
    similar = model.similar_products(top=5)
    assert similar[similar["product"] == 1]["other"].tolist()[0] == 4
    assert similar[similar["product"] == 3]["other"].tolist()[0] == 6


def test_pair_shares_count_same_category_head_noun_and_co_purchase_against_chance() -> None:
    data = make_data(
        [(1, 0, [1, 2]), (2, 0, [1, 2]), (3, 0, [3]), (4, 0, [4])],
        names={1: "red ceramic mug", 2: "blue ceramic mugs", 3: "garden hose", 4: "hose reel"},
        categories={1: "kitchen", 2: "kitchen", 3: "garden", 4: "garden"},
    )
    model = ContentModel().fit(data)
    (row,) = similar_pair_shares(
        model.similar_products(top=1), products=data.products, view=data.view, tops=(1,)
    )
    assert row.pairs == 4
    assert row.same_category == 1.0
    # mug ~ mugs share the head noun; hose ~ reel do not.
    assert row.same_head_noun == pytest.approx(0.5)
    # Only the mugs are ordered together (2 of 4 orders each, together in both: lift 2).
    assert row.co_purchased == pytest.approx(0.5)
    assert 0 <= row.same_category_random <= 1 and not np.isnan(row.co_purchased_random)


def test_the_head_noun_is_the_last_word_without_pack_sizes_or_plural() -> None:
    assert head_noun("JUMBO STORAGE BAGS x12") == "bag"
    assert head_noun("Still Spring Water 500ml") == "water"
    assert head_noun("GLASS") == "glass"


def test_the_similarity_sentence_names_what_the_model_compares_and_only_that() -> None:
    base = {"names": {1: "Tea cosy", 2: "Tea cosy"}, "descriptions": {1: "knitted", 2: "knitted"}}
    same = {"categories": {1: "Kitchen", 2: "Kitchen"}, "vendors": {1: "Dawson Foods", 2: "Dawson Foods"}}

    def similarity(**changes: dict[int, str]) -> float:
        fields = {**base, **same, **changes}
        return _similarity(ContentModel().fit(make_data([(1, 0, [1, 2])], **fields)), 1, 2)

    assert similarity() == pytest.approx(1.0)
    assert similarity(vendors={1: "Dawson Foods", 2: "Jennings Foods"}) == pytest.approx(1.0)
    assert similarity(names={1: "Tea cosy", 2: "Egg cosy"}) < 1.0
    assert similarity(descriptions={1: "knitted", 2: "quilted"}) < 1.0
    assert similarity(categories={1: "Kitchen", 2: "Textiles"}) < 1.0
    assert (
        explanations.similarity_sentence(similarity=0.824) == "82% match on name, description and category."
    )


def test_a_catalogue_with_nothing_to_compare_lists_no_similar_products_and_no_content_reason() -> None:
    data = make_data([(1, 0, [1, 2]), (1, 7, [1])], names={1: "", 2: "x12"}, extra_products=[3])
    model = ContentModel().fit(data)
    assert model.similar_products(top=5).empty
    assert model.explain(0, int(model.product_rows([3])[0]), np.array([], dtype=int)) is None
