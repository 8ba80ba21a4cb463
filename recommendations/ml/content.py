"""Content model: product text, so unsold products can be ranked and "similar products" listed.

Two representations, because the two jobs want different things:

- `item_text` ranks products for a retailer: TF-IDF of the words and word pairs of the name (twice), category,
  vendor and description, pack-size tokens dropped. Brand and vendor words stay in: a retailer's loyalty to a
  brand or supplier is a real preference (demo world, validation NDCG@10 of the content model alone: 0.356
  this way, 0.143 when ranked with the similarity vectors below; docs/evaluation.md).
- `item_kind` says which products are alike, for "similar products", the content reason's anchor and
  diversification: a product is similar to another of its kind, not to its brand's other products.

`item_kind` has three blocks, each L2-normalised and weighted so that the cosine of two products is a weighted
mean of the blocks' cosines (see CONTENT_BLOCKS):

- words of the name and description, TF-IDF, with pack-size tokens ("x12", "500ml", "6pk", "case of 24") and
  the product's own vendor name dropped, and each word scaled by how much it says about the category (below);
- character 3-5-grams of those same weighted words, so "bag"/"bags" and "t-light"/"tlight" still meet;
- the category itself, one token per category, so two products of one category start from a shared floor.

Brand and range words ("Brightwell", "Premium", "Organic") occur in every category; a word whose products are
spread over the categories like the catalogue as a whole gets a small weight, one found in a single category
keeps its full TF-IDF weight. A catalogue without categories keeps plain TF-IDF weights.
"""

import re

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer, TfidfVectorizer
from sklearn.preprocessing import normalize

from recommendations.ml.base import Recommender, dense_rows
from recommendations.ml.data import TrainingData

NEW_PRODUCT_DAYS = 60
# Squared block weights (they sum to 1): a pair's similarity is this weighted mean of its per-block cosines.
CONTENT_BLOCKS = {"words": 0.4, "chars": 0.2, "category": 0.4}
# Pack-size and count phrases say how a product is sold, not what it is.
PACK_PHRASE = re.compile(r"\b(?:case|pack|box|set|tray|bag) of \d+\b")
STOP_WORDS = frozenset({"a", "an", "and", "by", "for", "in", "of", "the", "with", "x", "pk", "pack", "packs"})
WORD = re.compile(r"[a-z0-9]+")
# The weight a word keeps even when it says nothing about the category: it still breaks ties within one.
MIN_WORD_WEIGHT = 0.05
# Pseudo-count pulling a rare word's category shares towards the catalogue's: a word seen once is not "pure".
CATEGORY_PRIOR_COUNT = 2.0


def content_words(text: str, *, drop: frozenset[str] = frozenset()) -> list[str]:
    """Lower-case words without numbers, pack-size tokens ("x12", "500ml", "6pk"), stop words or `drop`."""
    words = WORD.findall(PACK_PHRASE.sub(" ", text.lower()))
    return [w for w in words if w not in STOP_WORDS and w not in drop and not any(c.isdigit() for c in w)]


def category_word_weights(words: list[list[str]], categories: pd.Series) -> dict[str, float]:
    """0..1 per word: how far its products' categories are from the catalogue's mix (1 = a single category).

    The share of the word's products in its most frequent category, smoothed towards the catalogue's shares,
    rescaled so that the catalogue's own largest share maps to 0 and 1 to 1.
    """
    labelled = categories.to_numpy() != ""
    labels, codes = np.unique(categories.to_numpy()[labelled], return_inverse=True)
    if len(labels) < 2 or not any(w for w, keep in zip(words, labelled, strict=True) if keep):
        return {}
    vectorizer = CountVectorizer(analyzer=lambda doc: doc, binary=True)
    counts = vectorizer.fit_transform([w for w, keep in zip(words, labelled, strict=True) if keep])
    by_category = (sp.csr_matrix((np.ones(len(codes)), (codes, np.arange(len(codes))))) @ counts).toarray()
    prior = np.bincount(codes, minlength=len(labels)) / len(codes)
    shares = (by_category + CATEGORY_PRIOR_COUNT * prior[:, None]) / (
        by_category.sum(axis=0) + CATEGORY_PRIOR_COUNT
    )
    chance = prior.max()
    concentration = np.clip((shares.max(axis=0) - chance) / (1 - chance), 0, 1)
    weights = MIN_WORD_WEIGHT + (1 - MIN_WORD_WEIGHT) * concentration
    return dict(zip(vectorizer.get_feature_names_out(), weights.tolist(), strict=True))


def content_vectors(products: pd.DataFrame) -> sp.csr_matrix:
    """One L2-normalised row per product (in `products` order); their dot products are the similarities."""
    vendors = products["vendor"].fillna("").astype(str)
    words = [
        content_words(f"{name} {description}", drop=frozenset(content_words(vendor)))
        for name, description, vendor in zip(
            products["name"].fillna("").astype(str),
            products["description"].fillna("").astype(str),
            vendors,
            strict=True,
        )
    ]
    categories = products["category"].fillna("").astype(str).str.strip().str.lower()
    weights = category_word_weights(words, categories)

    blocks = []
    if any(words):
        counts = CountVectorizer(analyzer=lambda doc: doc)
        tf = counts.fit_transform(words)
        vocabulary = counts.get_feature_names_out()
        scale = np.array([weights.get(word, 1.0) for word in vocabulary])
        word_block = normalize(
            TfidfTransformer(sublinear_tf=True).fit_transform(tf) @ sp.diags(scale)
        ).tocsr()
        grams = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)
        chars = normalize(grams.fit_transform(vocabulary))
        blocks.append(np.sqrt(CONTENT_BLOCKS["words"]) * word_block)
        blocks.append(np.sqrt(CONTENT_BLOCKS["chars"]) * normalize(word_block @ chars))
    if categories.ne("").any():
        category_block = CountVectorizer(analyzer=lambda doc: [doc] if doc else [], binary=True)
        blocks.append(np.sqrt(CONTENT_BLOCKS["category"]) * category_block.fit_transform(categories))
    if not blocks:
        # Nothing to compare on: no product resembles another (all similarities 0, no "similar" rows).
        return sp.csr_matrix((len(products), 1), dtype="float32")
    # A product without a category (or without words) is compared on what it has: its row is renormalised.
    return normalize(sp.hstack(blocks).tocsr()).astype("float32").tocsr()


def profile_vectors(products: pd.DataFrame) -> sp.csr_matrix:
    """One L2-normalised row per product for ranking: every word of its text, brand and vendor included."""
    fields = [products[column].fillna("").astype(str) for column in ["name", "name", "category", "vendor"]]
    text = pd.Series(
        [
            " ".join(content_words(" ".join(parts)))
            for parts in zip(*fields, products["description"].fillna("").astype(str), strict=True)
        ]
    )
    if text.str.strip().eq("").all():
        return sp.csr_matrix((len(products), 1), dtype="float32")
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"[a-z]+")
    return normalize(vectorizer.fit_transform(text)).astype("float32").tocsr()


class ContentModel(Recommender):
    name = "content"
    kind = "content"

    def __init__(self, *, half_life_orders: float = 5.0, profile_items: int = 30):
        self.half_life_orders = half_life_orders
        self.profile_items = profile_items

    def _fit(self, data: TrainingData) -> None:
        view = data.view
        products = data.products.reindex(view.product_ids)
        self.item_text = profile_vectors(products)
        self.item_kind = content_vectors(products)
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
        sims = (self.item_kind[items] @ self.item_kind.T).toarray()
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
        # The anchor is the bought product most like this one in the sense the product page calls "similar",
        # so "Similar to X" never names the same brand's product of another kind.
        sims = (self.item_kind[anchors] @ self.item_kind[item].T).toarray().ravel()
        best = int(np.argmax(sims * weights[anchors]))
        if sims[best] <= 0:
            # No product it buys resembles this one: saying "similar to" would not be true.
            return None
        return {
            "anchor": int(self.product_ids[anchors[best]]),
            "similarity": round(float(sims[best]), 3),
            "is_new": int(self.is_new[item]),
        }
