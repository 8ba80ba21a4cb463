"""The explanations' sparse reads (ml/base.py) give what scipy's indexing gives, canonical matrix or not."""

import numpy as np
import scipy.sparse as sp

from recommendations.ml.base import csr_value, dense_rows


def _matrices() -> list[sp.csr_matrix]:
    rng = np.random.default_rng(3)
    canonical = sp.random(40, 60, density=0.1, format="csr", random_state=4, dtype="float64")
    # Duplicates left unsummed and unsorted indices: the reads must fall back to scipy.
    rows, cols = rng.integers(0, 40, 300), rng.integers(0, 60, 300)
    messy = sp.csr_matrix((rng.random(300), (rows, cols)), shape=(40, 60))
    messy = sp.csr_matrix((messy.data[::-1], messy.indices[::-1], messy.indptr), shape=messy.shape)
    messy.has_canonical_format = False
    return [canonical, messy]


def test_csr_value_is_the_matrix_entry_stored_or_not() -> None:
    for matrix in _matrices():
        for row in range(matrix.shape[0]):
            for col in range(matrix.shape[1]):
                assert csr_value(matrix, row, col) == matrix[row, col]


def test_dense_rows_of_one_row_is_scipys_dense_row() -> None:
    for matrix in _matrices():
        for row in range(matrix.shape[0]):
            expected = matrix[[row]].toarray().astype("float32")
            assert np.array_equal(dense_rows(matrix, np.array([row])), expected)
        assert not dense_rows(matrix, np.array([-1])).any()
