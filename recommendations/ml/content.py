"""Content model: TF-IDF of product text (name, description, category, vendor) so unsold products can be
ranked."""

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from recommendations.ml.base import Recommender, dense_rows
from recommendations.ml.data import TrainingData

NEW_PRODUCT_DAYS = 60


class ContentModel(Recommender):
    name = "content"
    kind = "content"

    def __init__(self, *, half_life_orders: float = 5.0, profile_items: int = 30):
        self.half_life_orders = half_life_orders
        self.profile_items = profile_items

    def _fit(self, data: TrainingData) -> None:
        view = data.view
        products = data.products.reindex(view.product_ids)
        text = (
            products["name"].fillna("")
            + " "
            + products["name"].fillna("")
            + " "
            + products["category"].fillna("")
            + " "
            + products["vendor"].fillna("")
            + " "
            + products["description"].fillna("")
        ).str.lower()
        if text.str.strip().eq("").all():
            text = pd.Series(["unnamed"] * len(text))
        vectorizer = TfidfVectorizer(
            ngram_range=(1, 2), min_df=1, sublinear_tf=True, token_pattern=r"[a-z0-9]+"
        )
        self.item_text = normalize(vectorizer.fit_transform(text)).astype("float32").tocsr()
        self.history = self._top_items(view.decayed(self.half_life_orders))
        first_seen = products["first_seen"].fillna(view.cutoff)
        self.is_new = (
            (first_seen > view.cutoff - pd.Timedelta(days=NEW_PRODUCT_DAYS)).to_numpy().astype("int64")
        )

    def _top_items(self, matrix: sp.csr_matrix) -> sp.csr_matrix:
        """Keep each retailer's strongest items only: the profile is about what it buys most."""
        rows = []
        for i in range(matrix.shape[0]):
            row = matrix.getrow(i)
            if row.nnz > self.profile_items:
                cut = np.sort(row.data)[-self.profile_items]
                row.data[row.data < cut] = 0
                row.eliminate_zeros()
            rows.append(row)
        return sp.vstack(rows).tocsr() if rows else matrix

    def _profile(self, rows: np.ndarray, baskets: list[np.ndarray]) -> np.ndarray:
        weights = dense_rows(self.history, rows)
        for i, basket in enumerate(baskets):
            weights[i, basket] += 1
        return weights

    def _score(self, rows: np.ndarray, baskets: list[np.ndarray]) -> np.ndarray:
        profile = normalize(sp.csr_matrix(self._profile(rows, baskets)) @ self.item_text)
        return (profile @ self.item_text.T).toarray()

    def similar(self, items: np.ndarray, top: int) -> tuple[np.ndarray, np.ndarray]:
        sims = (self.item_text[items] @ self.item_text.T).toarray()
        sims[np.arange(len(items)), items] = -1
        best = np.argsort(-sims, axis=1, kind="stable")[:, :top]
        return best, np.take_along_axis(sims, best, axis=1)

    def similar_products(self, *, top: int = 20) -> pd.DataFrame:
        frames = []
        for start in range(0, len(self.product_ids), 512):
            items = np.arange(start, min(start + 512, len(self.product_ids)))
            best, sims = self.similar(items, top)
            keep = sims > 0
            frames.append(
                pd.DataFrame(
                    {
                        # A catalogue smaller than `top` has fewer columns than asked for.
                        "product": np.repeat(self.product_ids[items], best.shape[1])[keep.ravel()],
                        "other": self.product_ids[best][keep],
                        "similarity": sims[keep].round(4),
                    }
                )
            )
        return pd.concat(frames, ignore_index=True)

    def explain(self, row: int, item: int, basket: np.ndarray) -> dict[str, int | float | str] | None:
        weights = self._profile(np.array([row]), [basket])[0]
        anchors = np.flatnonzero(weights)
        anchors = anchors[anchors != item]
        if not len(anchors):
            return None
        sims = (self.item_text[anchors] @ self.item_text[item].T).toarray().ravel()
        best = int(np.argmax(sims * weights[anchors]))
        return {
            "anchor": int(self.product_ids[anchors[best]]),
            "similarity": round(float(sims[best]), 3),
            "is_new": int(self.is_new[item]),
        }
