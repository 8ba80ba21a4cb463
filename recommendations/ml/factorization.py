"""Collaborative factorisation: truncated SVD of an IDF-weighted log-count retailer x product matrix."""

import numpy as np
from sklearn.decomposition import TruncatedSVD
from sklearn.preprocessing import normalize

from recommendations.ml.base import Recommender, dense_rows
from recommendations.ml.data import TrainingData


class FactorizationModel(Recommender):
    name = "factorization"
    kind = "collaborative"

    def __init__(self, *, factors: int = 64, half_life_orders: float = 10.0, seed: int = 0):
        self.factors = factors
        self.half_life_orders = half_life_orders
        self.seed = seed

    def _fit(self, data: TrainingData) -> None:
        view = data.view
        counts = view.matrix(np.ones(len(view.lines)))
        self.bought = counts.astype(bool).astype("float32").tocsr()
        buyers = np.asarray(self.bought.sum(axis=0)).ravel()
        self.buyers = buyers
        idf = np.log((1 + view.n_retailers) / (1 + buyers))
        weighted = view.decayed(self.half_life_orders).multiply(idf[None, :]).tocsr()
        weighted.data = np.log1p(10 * weighted.data)
        rank = max(1, min(self.factors, min(weighted.shape) - 1))
        svd = TruncatedSVD(n_components=rank, random_state=self.seed, algorithm="randomized", n_iter=7)
        self.retailer_factors = svd.fit_transform(weighted).astype("float32")
        self.item_factors = svd.components_.T.astype("float32")
        self.item_unit = normalize(self.item_factors)

    def _score(self, rows: np.ndarray, baskets: list[np.ndarray]) -> np.ndarray:
        user = np.zeros((len(rows), self.item_factors.shape[1]), dtype="float32")
        known = rows >= 0
        user[known] = self.retailer_factors[rows[known]]
        # Items of the live basket move the retailer's point towards what goes with them.
        for i, basket in enumerate(baskets):
            if len(basket):
                user[i] += self.item_factors[basket].sum(axis=0)
        return user @ self.item_factors.T

    def explain(self, row: int, item: int, basket: np.ndarray) -> dict[str, int | float | str] | None:
        own = np.concatenate([basket, dense_rows(self.bought, np.array([row]))[0].nonzero()[0]]).astype(int)
        own = own[own != item]
        if not len(own):
            return {"retailers": int(self.buyers[item])}
        similarity = self.item_unit[own] @ self.item_unit[item]
        best = int(np.argmax(similarity))
        return {
            "anchor": int(self.product_ids[own[best]]),
            "similarity": round(float(max(similarity[best], 0)), 3),
            "retailers": int(self.buyers[item]),
        }
