"""Shared model API: fit / score / recommend / save / load over the product index of the training data."""

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp

from recommendations.ml.artifacts import load_state, save_state
from recommendations.ml.data import TrainingData

Baskets = Sequence[Sequence[int]] | None


class Recommender(ABC):
    """Subclasses set `name`/`kind`, implement `_fit(data)` and `_score(rows, baskets)` on index space.

    Every attribute that is a numpy array, a sparse matrix or a JSON value is part of the saved state.
    """

    name: ClassVar[str]
    kind: ClassVar[str]
    product_ids: np.ndarray
    retailer_ids: np.ndarray

    def fit(self, data: TrainingData) -> Self:
        view = data.view
        self.product_ids = view.product_ids
        self.retailer_ids = view.retailer_ids
        self.cutoff = str(view.cutoff)
        self._fit(data)
        return self

    @abstractmethod
    def _fit(self, data: TrainingData) -> None: ...

    @abstractmethod
    def _score(self, rows: np.ndarray, baskets: list[np.ndarray]) -> np.ndarray: ...

    def explain(self, row: int, item: int, basket: np.ndarray) -> dict[str, int | float | str] | None:
        """True facts behind this model's score of `item` for retailer index `row` (-1 = unknown)."""
        return None

    def retailer_rows(self, retailers: Sequence[int]) -> np.ndarray:
        retailers = np.asarray(retailers, dtype="int64")
        pos = np.searchsorted(self.retailer_ids, retailers).clip(0, max(len(self.retailer_ids) - 1, 0))
        known = len(self.retailer_ids) > 0 and self.retailer_ids[pos] == retailers
        return np.where(known, pos, -1)

    def product_rows(self, products: Sequence[int]) -> np.ndarray:
        products = np.asarray(products, dtype="int64")
        pos = np.searchsorted(self.product_ids, products).clip(0, len(self.product_ids) - 1)
        return pos[self.product_ids[pos] == products]

    def basket_rows(self, baskets: Baskets, count: int) -> list[np.ndarray]:
        if baskets is None:
            return [np.zeros(0, dtype="int64")] * count
        return [self.product_rows(list(basket)) for basket in baskets]

    def score(self, retailers: Sequence[int], baskets: Baskets = None) -> np.ndarray:
        """Scores (len(retailers) x len(product_ids)), higher is better; products ordered like product_ids."""
        rows = self.retailer_rows(retailers)
        return np.asarray(self._score(rows, self.basket_rows(baskets, len(rows))), dtype="float32")

    def recommend(
        self, retailers: Sequence[int], *, n: int = 20, baskets: Baskets = None, exclude_basket: bool = True
    ) -> list[list[int]]:
        scores = self.score(retailers, baskets)
        if exclude_basket and baskets is not None:
            for i, items in enumerate(self.basket_rows(baskets, len(scores))):
                scores[i, items] = -np.inf
        return [list(self.product_ids[idx]) for idx in top_n(scores, n)]

    def state(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def save(self, directory: str | Path) -> str:
        return save_state(directory, self.name, self.state())

    @classmethod
    def load(cls, directory: str | Path) -> Self:
        kind, state = load_state(directory)
        if kind != cls.name:
            raise ValueError(f"{directory} holds a {kind!r} model, not {cls.name!r}")
        model = cls.__new__(cls)
        vars(model).update(state)
        return model


def top_n(scores: np.ndarray, n: int) -> np.ndarray:
    """Indices of the n best columns per row, best first (ties broken by lower index)."""
    n = min(n, scores.shape[1])
    part = (
        np.argpartition(-scores, n - 1, axis=1)[:, :n]
        if n < scores.shape[1]
        else np.tile(np.arange(scores.shape[1]), (len(scores), 1))
    )
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -vals), axis=1)
    return np.take_along_axis(part, order, axis=1)


def _plain_csr(matrix: sp.spmatrix) -> bool:
    # Sorted indices without duplicates: a row's stored values are then exactly its non-zero entries.
    return isinstance(matrix, sp.csr_matrix) and matrix.has_canonical_format


def dense_rows(matrix: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    """Rows of a sparse retailer matrix as dense, zeros for unknown retailers (-1)."""
    out = np.zeros((len(rows), matrix.shape[1]), dtype="float32")
    if len(rows) == 1 and rows[0] >= 0 and _plain_csr(matrix):
        # One row (an explanation's): read off the CSR arrays; scipy's indexing costs far more than this.
        start, end = matrix.indptr[rows[0]], matrix.indptr[rows[0] + 1]
        out[0, matrix.indices[start:end]] = matrix.data[start:end]
        return out
    known = rows >= 0
    if known.any():
        out[known] = matrix[rows[known]].toarray()
    return out


def csr_value(matrix: sp.csr_matrix, row: int, col: int) -> Any:
    """matrix[row, col]; a binary search in the row's sorted indices instead of scipy's general indexing
    (explanations read a few values per recommendation, hundreds of thousands in a precompute)."""
    if not _plain_csr(matrix):
        return matrix[row, col]
    start, end = matrix.indptr[row], matrix.indptr[row + 1]
    at = start + int(np.searchsorted(matrix.indices[start:end], col))
    return matrix.data[at] if at < end and matrix.indices[at] == col else matrix.dtype.type(0)


def iso_day(days: float) -> str:
    return str(np.datetime64(int(days), "D"))
