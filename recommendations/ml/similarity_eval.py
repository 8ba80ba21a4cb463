"""How similar the "similar products" pairs are, judged by labels the content model is not scored on.

Every figure is over the top-k pairs per product (product -> its k most similar others, as precomputed for the
product page), next to the same figure for k random others per product (seeded), so a share has a chance level
to be read against:

- `same_category`: both products carry the same non-empty category (only where the catalogue has categories).
- `same_head_noun`: the last word of both names (after dropping pack-size tokens and numbers, lower case, a
  plural "s" dropped) is the same; English product names put the head noun last ("JUMBO BAG RED" is the
  exception, so this is a proxy). The name's words are also features of the model, so this proxy is not
  independent of it.
- `co_purchased`: the two products share more orders than chance (order-level lift > 1). Orders are not a
  feature of the content model, so this one is independent of it; similar products are sometimes substitutes,
  which are rarely bought together, so it is a floor rather than a target.
"""

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommendations.ml.data import BasketView

# Pack-size and quantity tokens: "x12", "12x", "500ml", "1.5l", "6pk", "pack", "case of 12", bare numbers.
PACK_TOKEN = re.compile(
    r"^(?:x?\d+(?:[.,]\d+)?x?|\d+(?:[.,]\d+)?(?:ml|cl|l|ltr|g|kg|gm|oz|lb|pk|pcs?|ct)|pk|pack|packs|case|of|"
    r"set|sets|assorted)$"
)
WORD = re.compile(r"[a-z0-9]+(?:[.,][0-9]+)?[a-z]*")


def head_noun(name: str) -> str:
    words = [word for word in WORD.findall(name.lower()) if not PACK_TOKEN.match(word) and not word.isdigit()]
    if not words:
        return ""
    word = words[-1]
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


@dataclass(frozen=True)
class PairShares:
    top: int
    pairs: int
    same_category: float
    same_category_random: float
    same_head_noun: float
    same_head_noun_random: float
    co_purchased: float
    co_purchased_random: float


def _random_pairs(product_ids: np.ndarray, top: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = len(product_ids)
    offsets = rng.integers(1, max(n, 2), size=(n, top))
    others = (np.arange(n)[:, None] + offsets) % n
    return pd.DataFrame({"product": np.repeat(product_ids, top), "other": product_ids[others.ravel()]})


def _share_equal(pairs: pd.DataFrame, labels: pd.Series) -> float:
    left = labels.reindex(pairs["product"]).to_numpy()
    right = labels.reindex(pairs["other"]).to_numpy()
    labelled = (left != "") & pd.notna(left)
    if not labelled.any():
        return float("nan")
    return float(np.mean(left[labelled] == right[labelled]))


def _share_co_purchased(pairs: pd.DataFrame, view: BasketView) -> float:
    if not len(pairs) or not len(view.lines):
        return float("nan")
    orders = pd.factorize(view.lines["order"])[0]
    incidence = sp.csr_matrix(
        (np.ones(len(orders)), (view.lines["p"].to_numpy(), orders)),
        shape=(view.n_products, orders.max() + 1),
    )
    left = np.searchsorted(view.product_ids, pairs["product"].to_numpy())
    right = np.searchsorted(view.product_ids, pairs["other"].to_numpy())
    together = np.asarray(incidence[left].multiply(incidence[right]).sum(axis=1)).ravel()
    counts = np.asarray(incidence.sum(axis=1)).ravel()
    expected = counts[left] * counts[right] / incidence.shape[1]
    return float(np.mean(together > expected))


def similar_pair_shares(
    similar: pd.DataFrame,
    *,
    products: pd.DataFrame,
    view: BasketView,
    tops: tuple[int, ...] = (5, 10),
    seed: int = 0,
) -> list[PairShares]:
    """`similar`: the content model's `similar_products()` frame (product, other, similarity), best first."""
    ranked = similar.sort_values(["product", "similarity", "other"], ascending=[True, False, True])
    rank = ranked.groupby("product").cumcount()
    categories = products["category"].fillna("").astype(str)
    nouns = products["name"].fillna("").astype(str).map(head_noun)
    rows = []
    for top in tops:
        pairs = ranked[rank < top]
        chance = _random_pairs(products.index.to_numpy(dtype="int64"), top, seed)
        rows.append(
            PairShares(
                top=top,
                pairs=len(pairs),
                same_category=_share_equal(pairs, categories),
                same_category_random=_share_equal(chance, categories),
                same_head_noun=_share_equal(pairs, nouns),
                same_head_noun_random=_share_equal(chance, nouns),
                co_purchased=_share_co_purchased(pairs, view),
                co_purchased_random=_share_co_purchased(chance, view),
            )
        )
    return rows


def pair_shares_table(rows: list[PairShares]) -> str:
    """A Markdown table, one row per k; nan where the catalogue has no such label."""
    header = (
        "| top k | pairs | same category | (random) | same head noun | (random) | co-purchased | (random) |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    lines = [
        f"| {row.top} | {row.pairs} | {row.same_category:.3f} | {row.same_category_random:.3f} | "
        f"{row.same_head_noun:.3f} | {row.same_head_noun_random:.3f} | {row.co_purchased:.3f} | "
        f"{row.co_purchased_random:.3f} |"
        for row in rows
    ]
    return "\n".join([header, *lines])
