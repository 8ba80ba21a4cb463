"""Diversified lists: maximal marginal relevance (MMR) over a ranker's best candidates, and the measures that
say whether a list is worth scrolling (intra-list diversity).

MMR (Carbonell & Goldstein, 1998) builds a list greedily: the next item maximises
    lam * relevance(item) - (1 - lam) * max similarity(item, items already chosen),
so lam = 1 keeps the ranker's order and a smaller lam trades relevance for variety. Relevance is the ranker's
score scaled to [0, 1] over the candidates; similarity is the mean of the aspects known for both products:
content similarity (the content model's cosine), same category, same vendor. A catalogue without categories
or vendors (Online Retail) is diversified on content alone.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

import numpy as np
import pandas as pd

# Candidates MMR chooses from: the ranker's best, as many as the learned re-ranker orders.
POOL = 50
# Tried on the validation baskets, from the ranker's own order to strongly diversified.
LAMBDA_GRID = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3)
# The rule: the most diverse lam whose validation NDCG@10 is at most this share below lam = 1's. Fixed
# beforehand (a product decision: a list worth scrolling may cost up to 5 % of NDCG@10), never tuned on test.
NDCG_TOLERANCE = 0.05
ASPECTS = ("category", "vendor", "content")


def _codes(values: pd.Series) -> np.ndarray:
    """Integer code per product, -1 where the value is unknown (empty)."""
    text = values.fillna("").astype(str).str.strip()
    codes, _ = pd.factorize(text.where(text != ""), use_na_sentinel=True)
    return codes.astype("int64")


@dataclass(frozen=True)
class ItemAspects:
    """Category and vendor of each product row of a model (codes, -1 = unknown)."""

    category: np.ndarray
    vendor: np.ndarray

    @classmethod
    def from_products(cls, products: pd.DataFrame, product_ids: np.ndarray) -> Self:
        frame = products.reindex(product_ids)
        return cls(_codes(frame["category"]), _codes(frame["vendor"]))

    @classmethod
    def unknown(cls, size: int) -> Self:
        return cls(np.full(size, -1, dtype="int64"), np.full(size, -1, dtype="int64"))


def _same(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(equal, known) pair matrices of one aspect."""
    known = (codes[:, None] >= 0) & (codes[None, :] >= 0)
    return (codes[:, None] == codes[None, :]) & known, known


def pair_similarity(content: np.ndarray, items: np.ndarray, aspects: ItemAspects) -> np.ndarray:
    """k x k similarity in [0, 1] of the product rows `items`; `content` is their k x k content cosine."""
    total = np.clip(content, 0, 1).astype("float64")
    count = np.ones_like(total)
    for codes in (aspects.category[items], aspects.vendor[items]):
        equal, known = _same(codes)
        total += equal
        count += known
    return total / count


def relevance(scores: np.ndarray) -> np.ndarray:
    """The ranker's scores of the candidates scaled to [0, 1] (best = 1), so lam means the same on any
    scale."""
    scores = np.asarray(scores, dtype="float64")
    low, high = scores.min(initial=0.0), scores.max(initial=0.0)
    if high - low <= 0:
        return np.ones_like(scores)
    return (scores - low) / (high - low)


def mmr(relevance: np.ndarray, similarity: np.ndarray, *, lam: float, k: int) -> np.ndarray:
    """Positions of the k candidates MMR picks, in pick order. Candidates come best first, so ties go to the
    more relevant one, and lam = 1 returns the ranker's order."""
    size = len(relevance)
    k = min(k, size)
    closest = np.zeros(size)
    open_ = np.ones(size, dtype=bool)
    picked = np.empty(k, dtype="int64")
    for step in range(k):
        value = np.where(open_, lam * relevance - (1 - lam) * closest, -np.inf)
        best = int(np.argmax(value))
        picked[step] = best
        open_[best] = False
        closest = np.maximum(closest, similarity[best])
    return picked


def intra_list_diversity(
    items: np.ndarray, content: np.ndarray, aspects: ItemAspects
) -> dict[str, float | None]:
    """Mean pairwise dissimilarity of one list per aspect: the share of pairs in different categories / of
    different vendors, and the mean (1 - content cosine). None when the aspect is unknown for every pair or
    the list has fewer than two items."""
    out: dict[str, float | None] = dict.fromkeys(ASPECTS)
    if len(items) < 2:
        return out
    upper = np.triu(np.ones((len(items), len(items)), dtype=bool), k=1)
    for name, codes in (("category", aspects.category[items]), ("vendor", aspects.vendor[items])):
        equal, known = _same(codes)
        pairs = upper & known
        if pairs.any():
            out[name] = float(1 - equal[pairs].mean())
    out["content"] = float(1 - np.clip(content[upper], 0, 1).mean())
    return out


def mean_diversity(per_list: Sequence[dict[str, float | None]]) -> dict[str, float | None]:
    """Each aspect averaged over the lists where it is known."""
    out: dict[str, float | None] = {}
    for name in ASPECTS:
        values = [d[name] for d in per_list if d.get(name) is not None]
        out[name] = float(np.mean(values)) if values else None
    return out


def combined(diversity: dict[str, float | None]) -> float:
    """One number for comparing lam values: the mean of the known aspects."""
    known = [value for value in diversity.values() if value is not None]
    return float(np.mean(known)) if known else 0.0


@dataclass(frozen=True)
class LambdaTrial:
    lam: float
    ndcg: float  # validation NDCG@10 of the lists built with lam
    diversity: float  # their combined intra-list diversity


def choose_lambda(trials: Sequence[LambdaTrial], *, tolerance: float = NDCG_TOLERANCE) -> float:
    """The most diverse lam whose NDCG@10 is within `tolerance` (relative) of lam = 1's; lam = 1 wins ties,
    and is the answer when no trial for it exists."""
    reference = next((t.ndcg for t in trials if t.lam == 1.0), None)
    if reference is None:
        return 1.0
    allowed = [t for t in trials if t.ndcg >= reference * (1 - tolerance)]
    return max(allowed, key=lambda t: (round(t.diversity, 9), t.lam)).lam
