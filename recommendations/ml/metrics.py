"""Ranking metrics for one ranked list against the set of relevant products (binary relevance)."""

from collections.abc import Collection, Sequence

import numpy as np


def hit_at_k(ranked: Sequence[int], relevant: Collection[int], k: int) -> float:
    return float(any(item in relevant for item in ranked[:k]))


def precision_at_k(ranked: Sequence[int], relevant: Collection[int], k: int) -> float:
    return sum(item in relevant for item in ranked[:k]) / k


def recall_at_k(ranked: Sequence[int], relevant: Collection[int], k: int) -> float:
    if not relevant:
        return 0.0
    return sum(item in relevant for item in ranked[:k]) / len(relevant)


def ndcg_at_k(ranked: Sequence[int], relevant: Collection[int], k: int) -> float:
    if not relevant:
        return 0.0
    discounts = 1 / np.log2(np.arange(2, k + 2))
    dcg = sum(discounts[i] for i, item in enumerate(ranked[:k]) if item in relevant)
    ideal = discounts[: min(len(relevant), k)].sum()
    return float(dcg / ideal)


def coverage(ranked_lists: Sequence[Sequence[int]], catalogue_size: int, k: int) -> float:
    """Share of the catalogue that appears in at least one top-k list."""
    shown = {item for ranked in ranked_lists for item in ranked[:k]}
    return len(shown) / catalogue_size if catalogue_size else 0.0
