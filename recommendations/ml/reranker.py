"""Learned re-ranker: gradient-boosted trees over candidate features of the blend's top candidates.

Trained on validation baskets (features from models fitted without them); tried over whatever the
significance gate chose (the blend, or the best single model when it refused the blend: the features hold
every member's score either way), and kept only if its out-of-fold scores (each half of the validation
retailers scored by the trees fitted on the other) pass the same gate against the best single model and beat
what it re-ranks on average (recommendations/ml/hybrid.py, recommendations/ml/significance.py).
"""

import pickle
from collections.abc import Iterable

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from recommendations.ml.base import Recommender, top_n

CANDIDATES = 50
# The columns `candidate_features` appends after one score column per member, in its order.
RETAILER_FEATURES = (
    "blend_score",
    "blend_position",
    "times_ordered",
    "decayed_frequency",
    "days_since_last_ordered",
    "cadence_days",
    "due",
    "orders_total",
    "buyers",
    "trend",
    "days_since_last_order",
)


def feature_names(members: Iterable[str]) -> list[str]:
    """The names of `candidate_features`' columns for a blend of these members, in column order."""
    return [f"{name}_score" for name in sorted(members)] + list(RETAILER_FEATURES)


def candidate_features(
    models: dict[str, Recommender], parts: dict[str, np.ndarray], blend: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(candidates n x C, features n x C x F) for retailer rows; `parts` are the members' normalised
    scores."""
    candidates = top_n(blend, min(CANDIDATES, blend.shape[1]))
    take = lambda matrix: np.take_along_axis(np.asarray(matrix, dtype="float32"), candidates, axis=1)  # noqa: E731
    columns = [take(parts[name]) for name in sorted(parts)]
    columns.append(take(blend))
    columns.append(np.broadcast_to(np.arange(candidates.shape[1], dtype="float32"), candidates.shape))
    repeat = models["repeat"]
    known = np.maximum(rows, 0)
    as_of = repeat.next_order_day[known]
    columns.append(take(repeat.times[known].toarray() * (rows >= 0)[:, None]))
    columns.append(take(repeat.frequency[known].toarray() * (rows >= 0)[:, None]))
    last = repeat.last_day[known].toarray()
    columns.append(take(np.where(last > 0, as_of[:, None] - last, -1)))
    columns.append(take(repeat.cadence[known].toarray()))
    columns.append(take(repeat._due(rows, as_of)))
    orders_total = np.where(rows >= 0, repeat.orders_total[known], 0).astype("float32")
    columns.append(np.repeat(orders_total[:, None], candidates.shape[1], axis=1))
    buyers = models["popularity"].buyers
    columns.append(buyers[candidates].astype("float32"))
    columns.append(repeat.trend[candidates].astype("float32"))
    columns.append(np.repeat((as_of - repeat.last_order_day[known])[:, None], candidates.shape[1], axis=1))
    return candidates, np.stack(columns, axis=2)


class Reranker:
    def __init__(self, *, seed: int = 0):
        self.model = HistGradientBoostingClassifier(
            max_iter=150,
            learning_rate=0.08,
            max_leaf_nodes=31,
            min_samples_leaf=40,
            l2_regularization=1.0,
            random_state=seed,
        )

    def fit(self, features: np.ndarray, labels: np.ndarray) -> "Reranker":
        self.model.fit(features.reshape(-1, features.shape[2]), labels.ravel())
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        flat = features.reshape(-1, features.shape[2])
        return self.model.predict_proba(flat)[:, 1].reshape(features.shape[:2])

    def contributions(self, features: np.ndarray) -> tuple[float, np.ndarray]:
        """Each feature's share of the trees' log-odds for each row of `features` (... x F): (bias, same shape
        as `features`), with bias + the row's sum = the classifier's `decision_function` exactly.

        Path attribution (Saabas): following a row down each tree, every split adds the change of the node
        value it leads to (its child's minus its own) to the feature it splits on. scikit-learn keeps the
        leaves' values shrunk by the learning rate and the inner nodes' unshrunk (the root at 0), so inner
        values are shrunk here to put every step on the leaves' scale. Reads the fitted trees'
        `_predictors` (scikit-learn 1.9, pinned); a test holds the sums to `decision_function`.
        """
        shape = features.shape
        flat = np.asarray(features, dtype="float64").reshape(-1, shape[-1])
        out = np.zeros_like(flat)
        bias = float(np.ravel(self.model._baseline_prediction)[0])
        shrink = float(self.model.learning_rate)
        for (tree,) in self.model._predictors:
            nodes = tree.nodes
            leaf = nodes["is_leaf"].astype(bool)
            if nodes["is_categorical"].any():
                raise ValueError("categorical splits are not attributed: the re-ranker has none")
            value = np.where(leaf, nodes["value"], nodes["value"] * shrink)
            bias += float(value[0])
            at = np.zeros(len(flat), dtype=np.intp)
            moving = np.flatnonzero(~leaf[at])
            while len(moving):
                node = at[moving]
                feature = nodes["feature_idx"][node]
                x = flat[moving, feature]
                missing_left = nodes["missing_go_to_left"][node].astype(bool)
                left = np.where(np.isnan(x), missing_left, x <= nodes["num_threshold"][node])
                child = np.where(left, nodes["left"][node], nodes["right"][node]).astype(np.intp)
                out[moving, feature] += value[child] - value[node]
                at[moving] = child
                moving = moving[~leaf[child]]
        return bias, out.reshape(shape)

    def to_bytes(self) -> np.ndarray:
        return np.frombuffer(pickle.dumps(self.model), dtype="uint8")

    @classmethod
    def from_bytes(cls, blob: np.ndarray) -> "Reranker":
        reranker = cls.__new__(cls)
        # Only ever reads the bundle this package wrote, after its sha256 checksum was verified.
        reranker.model = pickle.loads(blob.tobytes())
        return reranker
