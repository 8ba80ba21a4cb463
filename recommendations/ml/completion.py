"""Basket completion as its own task: the signals that rank products to add to a current basket, and the one
function that blends them, shared by the offline evaluation (every product of the catalogue) and the live
"complete your basket" / next-item answers (the association rows of the basket's products). Plain numpy.

The signals are what a web process can compute from a version's precomputed rows, so the weights chosen on
validation mean the same thing where they serve:

- `association`: the sum over the basket's products of confidence(anchor -> candidate) = together /
  anchor orders, divided by the row's best;
- `lift`: the best log(1 + lift) of any basket product with the candidate, divided by the row's best;
- `embedding`: the cosine of the candidate's item vector (the neural model's) to the mean of the basket's,
  clipped to [0, 1];
- `popularity`: the orders holding the candidate, divided by those of the most ordered product.

Only the association rows a version serves count (`SERVED_PER_PRODUCT` best by lift per product, each with at
least `SERVED_MIN_TOGETHER` orders together), offline as live.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

SIGNALS = ("association", "lift", "embedding", "popularity")
# The association rows precompute writes per product ("often bought together") and the least co-purchase
# count that makes a row.
SERVED_PER_PRODUCT = 20
SERVED_MIN_TOGETHER = 3
# Versions trained before completion had its own weights ranked by lift and embedding cosine, half each.
LEGACY_WEIGHTS: dict[str, float] = {"lift": 0.5, "embedding": 0.5}


def _per_row_max(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype="float64")
    if not values.shape[-1]:
        return values
    top = values.max(axis=-1, keepdims=True)
    return np.divide(values, top, out=np.zeros_like(values), where=top > 0)


def combine(
    weights: Mapping[str, float],
    *,
    association: np.ndarray,
    lift: np.ndarray,
    embedding: np.ndarray,
    popularity: np.ndarray,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The completion score of candidates (last axis) from their raw signals: confidence sums, best
    log(1 + lift), clipped cosines and popularity already divided by the top product's. Returns the score and
    each signal's weighted contribution (what the reasons' shares are made of)."""
    parts = {
        "association": _per_row_max(association),
        "lift": _per_row_max(lift),
        "embedding": np.clip(np.asarray(embedding, dtype="float64"), 0.0, 1.0),
        "popularity": np.asarray(popularity, dtype="float64"),
    }
    contributions = {name: weights[name] * parts[name] for name in SIGNALS if weights.get(name, 0) > 0}
    score = sum(contributions.values(), start=np.zeros(np.shape(parts["association"])))
    return score, contributions


@dataclass
class CompletionTables:
    """What the signals are computed from, over the product rows of a fitted hybrid."""

    confidence: sp.csr_matrix  # anchor row x candidate row, served rows only
    log_lift: sp.csr_matrix
    popularity: np.ndarray  # orders holding each product / the most ordered product's
    top_orders: int  # that product's orders: the live answer divides by it
    vectors: np.ndarray | None  # item vectors by product row (None without a neural model)

    @classmethod
    def from_models(cls, association: object, neural: object | None) -> "CompletionTables":
        product_ids = association.product_ids
        pairs: pd.DataFrame = association.bought_together(
            min_together=SERVED_MIN_TOGETHER, top=SERVED_PER_PRODUCT
        )
        anchors = np.searchsorted(product_ids, pairs["product"].to_numpy())
        others = np.searchsorted(product_ids, pairs["other"].to_numpy())
        shape = (len(product_ids), len(product_ids))
        confidence = sp.csr_matrix((pairs["confidence"].to_numpy(dtype="float64"), (anchors, others)), shape)
        log_lift = sp.csr_matrix(
            (np.log1p(pairs["lift"].to_numpy(dtype="float64")), (anchors, others)), shape
        )
        orders = np.asarray(association.item_orders, dtype="float64")
        top = int(orders.max(initial=0))
        vectors = None
        if neural is not None:
            # Row 0 of the embedding is padding: product row p is embedding row p + 1 (as precompute exports).
            embedding = np.asarray(neural.numpy_weights()["item_emb"], dtype="float64")
            vectors = embedding[len(embedding) - len(product_ids) :]
        return cls(confidence, log_lift, orders / max(top, 1), top, vectors)

    def signals(self, baskets: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """Every signal of every product (cases x products) for baskets given as product rows."""
        cases, n = len(baskets), self.confidence.shape[0]
        case_of = np.repeat(np.arange(cases), [len(b) for b in baskets])
        anchors = (
            np.concatenate([np.asarray(b, dtype="int64") for b in baskets]) if cases else np.zeros(0, int)
        )
        given = sp.csr_matrix((np.ones(len(anchors)), (case_of, anchors)), shape=(cases, n))
        association = (given @ self.confidence).toarray()
        stacked = self.log_lift[anchors].tocoo()
        lift = np.zeros((cases, n))
        np.maximum.at(lift, (case_of[stacked.row], stacked.col), stacked.data)
        embedding = np.zeros((cases, n))
        if self.vectors is not None:
            norms = np.linalg.norm(self.vectors, axis=1)
            unit = np.divide(
                self.vectors, norms[:, None], out=np.zeros_like(self.vectors), where=norms[:, None] > 0
            )
            for i, basket in enumerate(baskets):
                if len(basket):
                    centre = self.vectors[np.asarray(basket)].mean(axis=0)
                    centre /= np.linalg.norm(centre) or 1.0
                    embedding[i] = unit @ centre
        return {
            "association": association,
            "lift": lift,
            "embedding": embedding,
            "popularity": np.tile(self.popularity, (cases, 1)),
        }
