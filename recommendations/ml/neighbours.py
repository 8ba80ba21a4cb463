"""Neighbourhood model in the spirit of TIFU-KNN (Hu et al., SIGIR 2020).

Each retailer is a recency-decayed average of its binary basket vectors; its score blends its own vector
with the
mean vector of its k most similar retailers (cosine).
"""

import numpy as np
import scipy.sparse as sp
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import normalize

from recommendations.ml.base import Recommender, csr_value, dense_rows
from recommendations.ml.data import TrainingData, trend


class NeighbourModel(Recommender):
    name = "tifu_knn"
    kind = "neighbours"

    def __init__(
        self,
        *,
        half_life_orders: float = 5.0,
        k: int = 100,
        alpha: float = 0.7,
        trend_weight: float = 3.0,
        trend_days: int = 30,
    ):
        self.half_life_orders = half_life_orders
        self.k = k
        self.alpha = alpha
        self.trend_weight = trend_weight
        self.trend_days = trend_days

    def _fit(self, data: TrainingData) -> None:
        view = data.view
        self.vectors = view.decayed(self.half_life_orders).tocsr()
        k = min(self.k, view.n_retailers - 1)
        self.neighbours = np.zeros((view.n_retailers, max(k, 0)), dtype="int64")
        if k > 0:
            search = NearestNeighbors(n_neighbors=k + 1, metric="cosine", algorithm="brute")
            _, found = search.fit(normalize(self.vectors)).kneighbors(normalize(self.vectors))
            # Drop each retailer from its own neighbour list (it is usually, but not always, first).
            own = found == np.arange(view.n_retailers)[:, None]
            drop = np.where(own.any(axis=1), own.argmax(axis=1), k)
            self.neighbours = np.array([np.delete(row, d) for row, d in zip(found, drop, strict=True)])[:, :k]
        self.popularity = np.asarray(self.vectors.mean(axis=0)).ravel()
        self.trend = trend(view, self.trend_days)

    def _neighbour_mean(self, rows: np.ndarray) -> np.ndarray:
        out = np.tile(self.popularity, (len(rows), 1))
        known = np.flatnonzero(rows >= 0)
        if len(known) and self.neighbours.shape[1]:
            k = self.neighbours.shape[1]
            weights = sp.csr_matrix(
                (
                    np.full(len(known) * k, 1 / k),
                    (np.repeat(np.arange(len(known)), k), self.neighbours[rows[known]].ravel()),
                ),
                shape=(len(known), self.vectors.shape[0]),
            )
            out[known] = (weights @ self.vectors).toarray()
        return out

    def _score(self, rows: np.ndarray, baskets: list[np.ndarray]) -> np.ndarray:
        own = dense_rows(self.vectors, rows)
        alpha = np.where(rows >= 0, self.alpha, 0.0)[:, None]
        return (alpha * own + (1 - alpha) * self._neighbour_mean(rows)) * (1 + self.trend_weight * self.trend)

    def explain(self, row: int, item: int, basket: np.ndarray) -> dict[str, int | float | str] | None:
        if row < 0 or not self.neighbours.shape[1]:
            return None
        bought = sum(int(csr_value(self.vectors, int(other), item) > 0) for other in self.neighbours[row])
        return {"neighbours_bought": bought, "neighbours": int(self.neighbours.shape[1])} if bought else None
