"""Item-to-item association ("often bought together"): co-occurrence counts with support, confidence and
lift."""

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommendations.ml.base import Recommender
from recommendations.ml.data import TrainingData


class AssociationModel(Recommender):
    """Scores product b by sum over anchors a of weight(a) * confidence(a -> b).

    Anchors are the current basket when one is given, else the retailer's own recency-weighted purchases.
    """

    name = "association"
    kind = "bought_with"

    def __init__(self, *, min_together: int = 2, half_life_orders: float = 5.0, basket_weight: float = 1.0):
        self.min_together = min_together
        self.half_life_orders = half_life_orders
        self.basket_weight = basket_weight

    def _fit(self, data: TrainingData) -> None:
        view = data.view
        order_codes, order_rows = np.unique(view.lines["order"].to_numpy(), return_inverse=True)
        baskets = sp.csr_matrix(
            (np.ones(len(view.lines)), (order_rows, view.lines["p"].to_numpy())),
            shape=(len(order_codes), view.n_products),
        )
        together = (baskets.T @ baskets).tocsr()
        self.item_orders = together.diagonal().astype("int64")
        self.n_orders = len(order_codes)
        together.setdiag(0)
        together.data[together.data < self.min_together] = 0
        together.eliminate_zeros()
        self.together = together
        together = together.astype("int64")
        self.confidence = sp.diags(1 / np.maximum(self.item_orders, 1)) @ together.astype("float64")
        self.history = view.decayed(self.half_life_orders)

    def _anchors(self, rows: np.ndarray, baskets: list[np.ndarray]) -> sp.csr_matrix:
        history = sp.csr_matrix((len(rows), len(self.product_ids)))
        known = rows >= 0
        if known.any():
            history = sp.vstack(
                [
                    self.history[max(r, 0)] if k else sp.csr_matrix((1, len(self.product_ids)))
                    for r, k in zip(rows, known, strict=True)
                ]
            ).tocsr()
        given = sp.csr_matrix(
            (
                np.ones(sum(len(b) for b in baskets)),
                (np.repeat(np.arange(len(rows)), [len(b) for b in baskets]), np.concatenate([*baskets, []])),
            ),
            shape=(len(rows), len(self.product_ids)),
        )
        # The basket, when present, dominates: it is what the retailer is buying right now.
        with_basket = np.array([len(b) > 0 for b in baskets])
        history = sp.diags(np.where(with_basket, 0.1, 1.0)) @ history
        return (history + self.basket_weight * given).tocsr()

    def _score(self, rows: np.ndarray, baskets: list[np.ndarray]) -> np.ndarray:
        return (self._anchors(rows, baskets) @ self.confidence).toarray()

    def explain(self, row: int, item: int, basket: np.ndarray) -> dict[str, int | float | str] | None:
        anchors = self._anchors(np.array([row]), [basket])
        column = self.confidence[:, item].toarray().ravel()
        contribution = anchors.toarray()[0] * column
        if contribution.max(initial=0) <= 0:
            return None
        anchor = int(np.argmax(contribution))
        return {
            "anchor": int(self.product_ids[anchor]),
            "together": int(self.together[anchor, item]),
            "anchor_orders": int(self.item_orders[anchor]),
            "lift": round(self.lift(anchor, item), 2),
        }

    def lift(self, a: int, b: int) -> float:
        return float(self.together[a, b] * self.n_orders / max(self.item_orders[a] * self.item_orders[b], 1))

    def bought_together(self, *, min_together: int = 3, top: int = 20) -> pd.DataFrame:
        coo = self.together.tocoo()
        keep = coo.data >= min_together
        a, b, n = coo.row[keep], coo.col[keep], coo.data[keep]
        frame = pd.DataFrame(
            {
                "product": self.product_ids[a],
                "other": self.product_ids[b],
                "together": n.astype("int64"),
                "product_orders": self.item_orders[a].astype("int64"),
                "other_orders": self.item_orders[b].astype("int64"),
            }
        )
        frame["n_orders"] = int(self.n_orders)
        frame["support"] = frame["together"] / self.n_orders
        frame["confidence"] = frame["together"] / frame["product_orders"]
        frame["lift"] = frame["confidence"] * self.n_orders / frame["other_orders"]
        frame = frame.sort_values(
            ["product", "lift", "together", "other"], ascending=[True, False, False, True]
        )
        return frame.groupby("product").head(top).reset_index(drop=True)
