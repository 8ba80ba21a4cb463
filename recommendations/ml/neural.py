"""Neural next-basket model trained with TensorFlow/Keras; inference is pure numpy.

Encoder: item embeddings plus a recency-position embedding (0 = current basket, 1 = last order, ...) over the
retailer's most recent items, attention-pooled with a learned query, then a tanh layer; decoder: full
softmax over
the catalogue, trained against the next basket's item distribution. Training also feeds half of each target
basket
as the "current basket" so the same network completes live baskets. TensorFlow is imported inside `_train`
only; the
exported weights are numpy arrays used by `forward` here and by `serving.complete_basket`.
"""

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

import numpy as np
import pandas as pd

from recommendations.ml.base import Recommender
from recommendations.ml.data import TrainingData

MAX_ITEMS = 64
POSITIONS = 16
WEIGHT_NAMES = ("item_emb", "pos_emb", "att_w", "att_b", "att_q", "hid_w", "hid_b", "out_w", "out_b")


@contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null for a moment: TensorFlow's C++ start-up lines (oneDNN, absl's
    "before InitializeLog") are written there before any log level applies. Python exceptions still surface:
    they are raised after the descriptor is restored."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow_quietly() -> ModuleType:
    """TensorFlow without its start-up noise: C++ logging above warnings off (set before the import, which
    is when TensorFlow reads it), the import's native output dropped, absl's Python logging at errors only."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    with _native_stderr_silenced():
        import tensorflow as tf
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.ERROR)
    return tf


def forward(weights: dict[str, np.ndarray], items: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Next-item probabilities for padded (n x MAX_ITEMS) item indices shifted by one (0 = padding)."""
    mask = items > 0
    emb = weights["item_emb"][items] + weights["pos_emb"][positions]
    att = np.tanh(emb @ weights["att_w"] + weights["att_b"]) @ weights["att_q"]
    att = np.where(mask, att[..., 0], -1e9)
    att = np.exp(att - att.max(axis=1, keepdims=True)) * mask
    att /= np.maximum(att.sum(axis=1, keepdims=True), 1e-12)
    pooled = (att[..., None] * emb).sum(axis=1)
    hidden = np.tanh(pooled @ weights["hid_w"] + weights["hid_b"])
    logits = hidden @ weights["out_w"] + weights["out_b"]
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    return probs / probs.sum(axis=1, keepdims=True)


def encode(history: list[np.ndarray], basket: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Items (shifted by one) and recency positions of the live basket then past baskets, newest first."""
    items: list[int] = []
    positions: list[int] = []
    for position, items_of in enumerate([basket, *history]):
        for item in items_of[: MAX_ITEMS - len(items)]:
            items.append(int(item) + 1)
            positions.append(min(position, POSITIONS - 1))
        if len(items) >= MAX_ITEMS:
            break
    row_items = np.zeros(MAX_ITEMS, dtype="int64")
    row_pos = np.zeros(MAX_ITEMS, dtype="int64")
    row_items[: len(items)] = items
    row_pos[: len(positions)] = positions
    return row_items, row_pos


class NeuralModel(Recommender):
    name = "neural"
    kind = "sequence"

    def __init__(
        self, *, dim: int = 64, epochs: int = 12, batch_size: int = 256, seed: int = 0, history: int = 6
    ):
        self.dim = dim
        self.epochs = epochs
        self.batch_size = batch_size
        self.seed = seed
        self.history = history

    def _fit(self, data: TrainingData) -> None:
        view = data.view
        lines = view.lines.sort_values(["r", "recency", "p"])
        per_order = _baskets_per_order(lines)
        self.recent_items = {}
        rng = np.random.default_rng(self.seed)
        inputs, targets = [], []
        for r, group in per_order.groupby(level=0):
            baskets = list(group.to_numpy())  # newest first
            # Keep what serving needs: the retailer's last baskets, flattened with their lengths.
            self.recent_items[str(r)] = [b.tolist() for b in baskets[: self.history]]
            for t in range(len(baskets) - 1):
                past = baskets[t + 1 : t + 1 + self.history]
                target = baskets[t]
                inputs.append(encode(past, np.zeros(0, dtype="int64")))
                targets.append(target)
                if len(target) >= 2:
                    shown = rng.permutation(target)
                    half = len(shown) // 2
                    inputs.append(encode(past, shown[:half]))
                    targets.append(shown[half:])
        self.weights = (
            self._train(inputs, targets, view.n_products) if inputs else self._untrained(view.n_products)
        )
        for key, value in self.weights.items():
            setattr(self, f"w_{key}", value)
        del self.weights

    def _untrained(self, n_products: int) -> dict[str, np.ndarray]:
        shapes = {
            "item_emb": (n_products + 1, self.dim),
            "pos_emb": (POSITIONS, self.dim),
            "att_w": (self.dim, self.dim),
            "att_b": (self.dim,),
            "att_q": (self.dim, 1),
            "hid_w": (self.dim, self.dim),
            "hid_b": (self.dim,),
            "out_w": (self.dim, n_products),
            "out_b": (n_products,),
        }
        return {k: np.zeros(s, dtype="float32") for k, s in shapes.items()}

    def _train(self, inputs: list, targets: list, n_products: int) -> dict[str, np.ndarray]:
        tf = import_tensorflow_quietly()

        tf.config.threading.set_intra_op_parallelism_threads(2)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        tf.keras.utils.set_random_seed(self.seed)
        items = np.stack([i for i, _ in inputs])
        positions = np.stack([p for _, p in inputs])

        layers = tf.keras.layers
        dim = self.dim

        class Encoder(tf.keras.Model):
            def __init__(self) -> None:
                super().__init__()
                self.item_emb = layers.Embedding(n_products + 1, dim)
                self.pos_emb = layers.Embedding(POSITIONS, dim)
                self.att = layers.Dense(dim, activation="tanh")
                self.att_q = layers.Dense(1, use_bias=False)
                self.hid = layers.Dense(dim, activation="tanh")
                self.out = layers.Dense(n_products)

            def call(self, inputs):
                item_in, pos_in = inputs
                emb = self.item_emb(item_in) + self.pos_emb(pos_in)
                mask = tf.cast(item_in > 0, "float32")
                att = tf.nn.softmax(self.att_q(self.att(emb))[..., 0] + (1 - mask) * -1e9, axis=1)
                pooled = tf.reduce_sum(att[..., None] * emb, axis=1)
                return self.out(self.hid(pooled))

        model = Encoder()
        optimizer = tf.keras.optimizers.Adam(3e-3)

        # Targets are built per batch from the sparse lists: a dense n x P target matrix would not fit for
        # big data.
        target_lists = [np.asarray(t) for t in targets]

        @tf.function(reduce_retracing=True)
        def step(x_items, x_pos, y):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(
                    tf.nn.softmax_cross_entropy_with_logits(
                        labels=y, logits=model([x_items, x_pos], training=True)
                    )
                )
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            return loss

        rng = np.random.default_rng(self.seed)
        for _ in range(self.epochs):
            # Equal-sized batches (the last one wraps around) keep tf.function to a single trace.
            order = rng.permutation(len(inputs))
            order = np.resize(order, -(-len(order) // self.batch_size) * self.batch_size)
            for start in range(0, len(order), self.batch_size):
                batch = order[start : start + self.batch_size]
                y = np.zeros((len(batch), n_products), dtype="float32")
                for row, index in enumerate(batch):
                    y[row, target_lists[index]] = 1 / len(target_lists[index])
                step(items[batch], positions[batch], y)
        return {
            "item_emb": model.item_emb.get_weights()[0],
            "pos_emb": model.pos_emb.get_weights()[0],
            "att_w": model.att.get_weights()[0],
            "att_b": model.att.get_weights()[1],
            "att_q": model.att_q.get_weights()[0],
            "hid_w": model.hid.get_weights()[0],
            "hid_b": model.hid.get_weights()[1],
            "out_w": model.out.get_weights()[0],
            "out_b": model.out.get_weights()[1],
        }

    def numpy_weights(self) -> dict[str, np.ndarray]:
        return {key: getattr(self, f"w_{key}") for key in WEIGHT_NAMES}

    def _score(self, rows: np.ndarray, baskets: list[np.ndarray]) -> np.ndarray:
        encoded = [
            encode(
                [np.asarray(b) for b in self.recent_items.get(str(int(r)), [])] if r >= 0 else [],
                basket,
            )
            for r, basket in zip(rows, baskets, strict=True)
        ]
        items = np.stack([i for i, _ in encoded])
        positions = np.stack([p for _, p in encoded])
        return forward(self.numpy_weights(), items, positions)

    def explain(self, row: int, item: int, basket: np.ndarray) -> dict[str, int | float | str] | None:
        history = [np.asarray(b) for b in self.recent_items.get(str(int(row)), [])] if row >= 0 else []
        items, _ = encode(history, basket)
        present = items[items > 0] - 1
        # The product itself in the recent orders would be cited as the reason for suggesting it.
        present = present[present != item]
        if not len(present):
            return None
        weights = self.numpy_weights()
        # The most influential item is the one whose embedding points most towards the output vector of
        # `item`.
        affinity = weights["item_emb"][present + 1] @ (weights["hid_w"] @ weights["out_w"][:, item])
        anchor = int(present[int(np.argmax(affinity))])
        return {"anchor": int(self.product_ids[anchor]), "basket_size": len(basket)}


def _baskets_per_order(lines: pd.DataFrame) -> pd.Series:
    """The products of each (retailer, recency) order as one array, indexed by both; `lines` sorted by them.

    Split at the key changes rather than through a groupby aggregation: pandas 2 refuses an aggregation that
    returns an array.
    """
    keys = lines[["r", "recency"]].to_numpy()
    if not len(keys):
        return pd.Series([], dtype=object)
    starts = np.flatnonzero(np.r_[True, (np.diff(keys, axis=0) != 0).any(axis=1)])
    chunks = np.split(lines["p"].to_numpy(), starts[1:])
    baskets = np.empty(len(chunks), dtype=object)
    for index, chunk in enumerate(chunks):
        baskets[index] = chunk
    return pd.Series(
        baskets, index=pd.MultiIndex.from_arrays([keys[starts, 0], keys[starts, 1]], names=["r", "recency"])
    )
