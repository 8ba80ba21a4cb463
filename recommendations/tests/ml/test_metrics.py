import math

import pytest

from recommendations.ml.metrics import coverage, hit_at_k, ndcg_at_k, precision_at_k, recall_at_k

RANKED = [10, 20, 30, 40]
RELEVANT = {20, 40, 99}


def test_hit_counts_any_relevant_item_within_k() -> None:
    assert hit_at_k(RANKED, RELEVANT, 1) == 0.0
    assert hit_at_k(RANKED, RELEVANT, 2) == 1.0


def test_precision_divides_hits_by_k() -> None:
    assert precision_at_k(RANKED, RELEVANT, 4) == 0.5
    assert precision_at_k(RANKED, RELEVANT, 10) == 0.2


def test_recall_divides_hits_by_basket_size() -> None:
    assert recall_at_k(RANKED, RELEVANT, 4) == pytest.approx(2 / 3)
    assert recall_at_k(RANKED, set(), 4) == 0.0


def test_ndcg_matches_the_hand_computed_value() -> None:
    # hits at ranks 2 and 4; ideal puts 3 relevant items at ranks 1..3.
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(RANKED, RELEVANT, 4) == pytest.approx(dcg / ideal)


def test_ndcg_is_one_for_a_perfect_ranking_and_caps_the_ideal_at_k() -> None:
    assert ndcg_at_k([1, 2], {1, 2}, 2) == pytest.approx(1.0)
    assert ndcg_at_k([1, 2], {1, 2, 3}, 2) == pytest.approx(1.0)


def test_coverage_is_the_share_of_the_catalogue_shown() -> None:
    assert coverage([[1, 2], [2, 3], [9, 9]], 10, 2) == pytest.approx(0.4)
    assert coverage([[1, 2, 3]], 10, 1) == pytest.approx(0.1)
