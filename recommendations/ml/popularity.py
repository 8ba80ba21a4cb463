"""Global popularity and popularity within the retailer's segment / region (cold-start fallback)."""

import numpy as np
import pandas as pd

from recommendations.ml.base import Recommender, dense_rows
from recommendations.ml.data import TrainingData


class PopularityModel(Recommender):
    name = "popularity"
    kind = "popular"

    def __init__(self, *, window_days: int = 365, min_scope_retailers: int = 10, scope_weight: float = 0.5):
        self.window_days = window_days
        self.min_scope_retailers = min_scope_retailers
        self.scope_weight = scope_weight

    def _fit(self, data: TrainingData) -> None:
        view = data.view
        recent = view.lines[view.lines["ts"] > view.cutoff - pd.Timedelta(days=self.window_days)]
        pairs = recent.drop_duplicates(["r", "p"])
        self.buyers = np.bincount(pairs["p"], minlength=view.n_products).astype("float64")
        # Orders count breaks ties between products bought by equally many retailers.
        self.global_score = (self.buyers + 1e-3 * np.bincount(recent["p"], minlength=view.n_products)) / max(
            self.buyers.max(initial=0), 1
        )
        retailers = data.retailers.reindex(view.retailer_ids).fillna("")
        scope_rows, scope_scores, scope_buyers, names = [], [], [], []
        for scope in ["segment", "region"]:
            values = retailers[scope].to_numpy(dtype=str)
            row_scope = np.full(view.n_retailers, -1)
            for value in np.unique(values[values != ""]):
                members = np.flatnonzero(values == value)
                if len(members) < self.min_scope_retailers:
                    continue
                in_scope = pairs[np.isin(pairs["r"], members)]
                counts = np.bincount(in_scope["p"], minlength=view.n_products).astype("float64")
                row_scope[members] = np.where(row_scope[members] < 0, len(names), row_scope[members])
                names.append(f"{scope}:{value}")
                scope_buyers.append(counts)
                scope_scores.append(counts / max(counts.max(initial=0), 1))
            scope_rows.append(row_scope)
        # A retailer's scope is its segment when large enough, else its region.
        self.scope_of_row = np.where(scope_rows[0] >= 0, scope_rows[0], scope_rows[1])
        self.scope_names = names
        self.scope_scores = np.array(scope_scores).reshape(len(names), view.n_products)
        self.scope_buyers = np.array(scope_buyers).reshape(len(names), view.n_products)

    def _scope(self, rows: np.ndarray) -> np.ndarray:
        return np.where(rows >= 0, self.scope_of_row[np.maximum(rows, 0)], -1)

    def _score(self, rows: np.ndarray, baskets: list[np.ndarray]) -> np.ndarray:
        scores = np.tile(self.global_score, (len(rows), 1))
        scope = self._scope(rows)
        has = scope >= 0
        scores[has] += self.scope_weight * self.scope_scores[scope[has]]
        return scores

    def explain(self, row: int, item: int, basket: np.ndarray) -> dict[str, int | float | str]:
        scope = int(self._scope(np.array([row]))[0])
        if scope >= 0 and self.scope_weight * self.scope_scores[scope, item] > self.global_score[item]:
            kind, value = self.scope_names[scope].split(":", 1)
            buyers = int(self.scope_buyers[scope, item])
        else:
            kind, value, buyers = "all", "", int(self.buyers[item])
        return {"retailers": buyers, "window_days": self.window_days, "scope": kind, "scope_value": value}


class OwnTopModel(Recommender):
    """Baseline from the dataset README: the retailer's own most frequent products, padded with global top.

    `tie_break="code"` reproduces the README script (ties in lowest product id order), "popularity" breaks
    ties
    by global popularity.
    """

    name = "own_top"
    kind = "repeat"

    def __init__(self, *, tie_break: str = "popularity"):
        self.tie_break = tie_break

    def _fit(self, data: TrainingData) -> None:
        view = data.view
        self.counts = view.matrix(np.ones(len(view.lines)))
        popularity = np.bincount(view.lines["p"], minlength=view.n_products).astype("float64")
        if self.tie_break == "code":
            self.tie = 1e-3 * (1 - np.arange(view.n_products) / view.n_products)
            self.pad = popularity / max(popularity.max(), 1) * 1e-3
        else:
            self.tie = popularity / max(popularity.max(), 1) * 1e-3
            self.pad = self.tie

    def _score(self, rows: np.ndarray, baskets: list[np.ndarray]) -> np.ndarray:
        counts = dense_rows(self.counts, rows).astype("float64")
        return counts + np.where(counts > 0, self.tie, self.pad)
