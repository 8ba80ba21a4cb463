"""Offline evaluation protocols.

Protocol A (next basket): for every retailer with >= 2 orders the chronologically last order is held out and
scored
against the distinct products of that order; everything else is training data. Applied twice: once on the
full data
(test) and once on the training part of that split (validation, i.e. the second-to-last basket), which is
the only
split used for tuning.
Protocol B (basket completion): one product of each held-out basket with >= 2 products is hidden, the rest
is given
as the current basket; the hidden product must be ranked among products not in the basket.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import numpy as np

from recommendations.ml.base import top_n
from recommendations.ml.calibration import reliability
from recommendations.ml.data import TrainingData
from recommendations.ml.metrics import coverage, hit_at_k, ndcg_at_k, precision_at_k, recall_at_k

Scorer = Callable[[Sequence[int], Sequence[Sequence[int]] | None], np.ndarray]
BATCH = 1024
# The length of the lists whose probabilities are measured: the precomputed "for you" / "new for you".
CALIBRATION_LIST = 20
# The metrics whose per-retailer values the leaderboard pairs across models for its intervals.
PAIRED_METRICS: dict[str, Callable[[Sequence[int], set[int]], float]] = {
    "recall@10": partial(recall_at_k, k=10),
    "ndcg@10": partial(ndcg_at_k, k=10),
}


class Lists(Protocol):
    def recommend(self, retailers: Sequence[int], *, n: int) -> list[Any]: ...
    def new_for(self, retailers: Sequence[int], *, n: int) -> list[Any]: ...


@dataclass
class Holdout:
    retailers: np.ndarray  # retailer ids with a held-out basket
    baskets: list[set[int]]  # distinct product ids of each held-out basket
    history: list[set[int]]  # products each retailer bought in the training part


def split_last_basket(data: TrainingData) -> tuple[TrainingData, Holdout]:
    orders = data.view.orders
    last = orders[(orders["n_orders"] >= 2) & (orders["recency"] == 0)]
    train = data.subset_orders(np.setdiff1d(orders["order"].to_numpy(), last["order"].to_numpy()))
    held = data.interactions[data.interactions["order"].isin(last["order"])]
    baskets = held.groupby("retailer")["product"].agg(set)
    bought = train.interactions.groupby("retailer")["product"].agg(set)
    retailers = baskets.index.to_numpy(dtype="int64")
    return train, Holdout(retailers, list(baskets), [bought.get(r, set()) for r in retailers])


def ranked_lists(
    scorer: Scorer,
    product_ids: np.ndarray,
    retailers: np.ndarray,
    k: int,
    baskets: list[list[int]] | None = None,
) -> list[list[int]]:
    out: list[list[int]] = []
    for start in range(0, len(retailers), BATCH):
        chunk = retailers[start : start + BATCH]
        chunk_baskets = None if baskets is None else baskets[start : start + BATCH]
        scores = np.array(scorer(chunk, chunk_baskets), dtype="float32")
        if chunk_baskets is not None:
            for i, basket in enumerate(chunk_baskets):
                scores[i, np.isin(product_ids, basket)] = -np.inf
        out.extend(product_ids[top_n(scores, k)].tolist())
    return out


def next_basket_metrics(ranked: list[list[int]], holdout: Holdout, catalogue_size: int) -> dict[str, float]:
    metrics: dict[str, list[float]] = {}

    def add(name: str, value: float) -> None:
        metrics.setdefault(name, []).append(value)

    for items, basket, history in zip(ranked, holdout.baskets, holdout.history, strict=True):
        add("hit@10", hit_at_k(items, basket, 10))
        add("precision@10", precision_at_k(items, basket, 10))
        for k in (10, 20):
            add(f"recall@{k}", recall_at_k(items, basket, k))
            add(f"ndcg@{k}", ndcg_at_k(items, basket, k))
        for part, relevant in (("repeat", basket & history), ("explore", basket - history)):
            if relevant:
                add(f"hit@10_{part}", hit_at_k(items, relevant, 10))
                add(f"recall@10_{part}", recall_at_k(items, relevant, 10))
                add(f"ndcg@10_{part}", ndcg_at_k(items, relevant, 10))
    out = {name: float(np.mean(values)) for name, values in metrics.items()}
    out["coverage@10"] = coverage(ranked, catalogue_size, 10)
    out["scored"] = len(ranked)
    return out


def per_retailer_metrics(ranked: list[list[int]], holdout: Holdout) -> dict[str, np.ndarray]:
    """PAIRED_METRICS of each held-out retailer, in holdout order: the paired units of a bootstrap that
    compares two models on the same baskets."""
    pairs = list(zip(ranked, holdout.baskets, strict=True))
    return {
        name: np.array([metric(items, basket) for items, basket in pairs], dtype="float64")
        for name, metric in PAIRED_METRICS.items()
    }


def completion_cases(holdout: Holdout, seed: int = 0) -> tuple[np.ndarray, list[list[int]], list[int]]:
    rng = np.random.default_rng(seed)
    retailers, given, hidden = [], [], []
    for retailer, basket in zip(holdout.retailers, holdout.baskets, strict=True):
        if len(basket) < 2:
            continue
        items = sorted(basket)
        pick = int(rng.integers(len(items)))
        retailers.append(retailer)
        hidden.append(items[pick])
        given.append(items[:pick] + items[pick + 1 :])
    return np.array(retailers, dtype="int64"), given, hidden


COMPLETION_K = (1, 3, 10)


def completion_hits(scorer: Scorer, product_ids: np.ndarray, holdout: Holdout) -> dict[int, np.ndarray]:
    """Protocol B per case: 1.0 where the hidden product is in the scorer's top k, for each COMPLETION_K (the
    paired units of a bootstrap comparing two completion scorers on the same cases)."""
    retailers, given, hidden = completion_cases(holdout)
    ranked = ranked_lists(scorer, product_ids, retailers, max(COMPLETION_K), given)
    return {
        k: np.array([hit_at_k(r, {h}, k) for r, h in zip(ranked, hidden, strict=True)], dtype="float64")
        for k in COMPLETION_K
    }


def completion_metrics(scorer: Scorer, product_ids: np.ndarray, holdout: Holdout) -> dict[str, float]:
    hits = completion_hits(scorer, product_ids, holdout)
    cases = len(hits[COMPLETION_K[0]])
    return {
        f"completion_hit@{k}": float(values.mean()) if cases else float("nan") for k, values in hits.items()
    } | {"completion_cases": cases}


def calibration_metrics(model: Lists, holdout: Holdout, *, n: int = CALIBRATION_LIST) -> dict[str, Any]:
    """Reliability of the lists' probabilities on held-out baskets: every (retailer, product) pair of the
    top-n "for you" and "new for you" lists, labelled 1 when the product is in the retailer's held-out basket.
    Pairs without a probability (no calibrator) are left out and counted."""
    out: dict[str, Any] = {}
    baskets = dict(zip(holdout.retailers.tolist(), holdout.baskets, strict=True))
    for surface, lists in (("for_you", model.recommend), ("new_for_you", model.new_for)):
        probabilities, labels, uncalibrated = [], [], 0
        for start in range(0, len(holdout.retailers), BATCH):
            for rec in lists(holdout.retailers[start : start + BATCH].tolist(), n=n):
                if rec.probability is None:
                    uncalibrated += 1
                    continue
                probabilities.append(rec.probability)
                labels.append(rec.product in baskets[rec.retailer])
        out[surface] = reliability(np.array(probabilities), np.array(labels)) | {"uncalibrated": uncalibrated}
    return out
