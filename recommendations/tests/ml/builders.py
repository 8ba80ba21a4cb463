"""Tiny hand-made TrainingData for the ML tests."""

from collections.abc import Sequence

import numpy as np
import pandas as pd

from recommendations.ml.data import TrainingData

START = pd.Timestamp("2024-01-01")


def make_data(
    orders: Sequence[tuple[int, int, Sequence[int]]],
    *,
    names: dict[int, str] | None = None,
    segments: dict[int, str] | None = None,
    extra_products: Sequence[int] = (),
    first_seen: dict[int, int] | None = None,
    categories: dict[int, str] | None = None,
    descriptions: dict[int, str] | None = None,
    vendors: dict[int, str] | None = None,
) -> TrainingData:
    """`orders`: (retailer, day offset, products); order ids are 1.. in the given order."""
    rows = [
        (retailer, order_id, product, START + pd.Timedelta(days=day), 1.0)
        for order_id, (retailer, day, products) in enumerate(orders, start=1)
        for product in products
    ]
    interactions = pd.DataFrame(rows, columns=["retailer", "order", "product", "ts", "quantity"])
    product_ids = sorted(set(interactions["product"]) | set(extra_products))
    names = names or {}
    first_seen = first_seen or {}
    products = pd.DataFrame(
        {
            "name": [names.get(p, f"product {p}") for p in product_ids],
            "description": [(descriptions or {}).get(p, "") for p in product_ids],
            "category": [(categories or {}).get(p, "") for p in product_ids],
            "vendor": [(vendors or {}).get(p, "") for p in product_ids],
            "price": 1.0,
            "first_seen": [START + pd.Timedelta(days=first_seen.get(p, 0)) for p in product_ids],
        },
        index=pd.Index(product_ids, name="product"),
    )
    retailer_ids = sorted(set(interactions["retailer"]) | set((segments or {}).keys()))
    retailers = pd.DataFrame(
        {"segment": [(segments or {}).get(r, "") for r in retailer_ids], "region": ""},
        index=pd.Index(retailer_ids, name="retailer"),
    )
    return TrainingData(interactions, products, retailers)


def random_baskets(*, retailers: int, orders: int, products: int, basket: int, seed: int) -> TrainingData:
    """Baskets drawn from one skewed popularity shared by everybody: no personal signal at all."""
    rng = np.random.default_rng(seed)
    popularity = 1 / np.arange(1, products + 1) ** 0.8
    popularity /= popularity.sum()
    spec = []
    for retailer in range(1, retailers + 1):
        for k in range(orders):
            items = rng.choice(np.arange(1, products + 1), size=basket, replace=False, p=popularity)
            spec.append((retailer, k * 7 + int(rng.integers(0, 5)), items.tolist()))
    return make_data(spec)
