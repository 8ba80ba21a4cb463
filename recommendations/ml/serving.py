"""Live basket completion for the web process: pure numpy over `HybridRecommender.serving_artifacts()`."""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from recommendations.ml.neural import WEIGHT_NAMES, encode, forward
from recommendations.ml.types import Reason, Recommendation

ASSOCIATION_SHARE = 0.5


def complete_basket(
    artifacts: Mapping[str, np.ndarray],
    basket: Sequence[int],
    *,
    n: int = 10,
    association_rows: Iterable[Mapping[str, Any]] | None = None,
) -> list[Recommendation]:
    """Products to add to `basket`: the neural sequence model's next-item probabilities, blended with "bought
    together" confidences from `association_rows` (dicts with product, other, together, product_orders,
    lift)."""
    product_ids = np.asarray(artifacts["product_ids"])
    position = {int(p): i for i, p in enumerate(product_ids)}
    items = np.array([position[p] for p in basket if p in position], dtype="int64")
    weights = {key: np.asarray(artifacts[f"neural_{key}"]) for key in WEIGHT_NAMES}
    encoded_items, encoded_pos = encode([], items)
    sequence = forward(weights, encoded_items[None], encoded_pos[None])[0] if len(items) else None
    if sequence is None:
        popularity = np.asarray(artifacts["popularity"], dtype="float64")
        sequence = popularity / max(popularity.sum(), 1)
    sequence = sequence / max(sequence.max(), 1e-12)

    association = np.zeros(len(product_ids))
    best_anchor: dict[int, Mapping[str, Any]] = {}
    in_basket = set(int(p) for p in basket)
    for row in association_rows or ():
        if int(row["product"]) not in in_basket or int(row["other"]) not in position:
            continue
        other = position[int(row["other"])]
        confidence = row["together"] / max(row["product_orders"], 1)
        association[other] += confidence
        if other not in best_anchor or confidence > best_anchor[other]["together"] / max(
            best_anchor[other]["product_orders"], 1
        ):
            best_anchor[other] = row
    if association.max(initial=0) > 0:
        association /= association.max()
    share = ASSOCIATION_SHARE if best_anchor else 0.0
    score = (1 - share) * sequence + share * association
    score[items] = -np.inf
    order = np.argsort(-score, kind="stable")[:n]
    out = []
    for rank, item in enumerate(order, start=1):
        parts = [("sequence", (1 - share) * sequence[item], {"basket_size": len(items)})]
        if item in best_anchor:
            row = best_anchor[item]
            facts = {
                "anchor": int(row["product"]),
                "together": int(row["together"]),
                "anchor_orders": int(row["product_orders"]),
                "lift": round(float(row["lift"]), 2),
            }
            parts.append(("bought_with", share * association[item], facts))
        total = sum(p[1] for p in parts) or 1.0
        reasons = tuple(
            Reason(kind, round(float(value / total), 4), facts)
            for kind, value, facts in sorted(parts, key=lambda p: -p[1])
            if value > 0
        )
        out.append(Recommendation(None, int(product_ids[item]), rank, round(float(score[item]), 6), reasons))
    return out
