"""Input frames of the ML core and the basket view every model is fitted from."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

INTERACTION_COLUMNS = ["retailer", "order", "product", "ts", "quantity"]
PRODUCT_COLUMNS = ["name", "description", "category", "vendor", "price", "first_seen"]
RETAILER_COLUMNS = ["segment", "region"]


@dataclass
class IdMaps:
    """External string keys (file rows) -> int ids used by the ML core."""

    retailers: dict[str, int] = field(default_factory=dict)
    orders: dict[str, int] = field(default_factory=dict)
    products: dict[str, int] = field(default_factory=dict)

    @staticmethod
    def _id(mapping: dict[str, int], key: str) -> int:
        if key not in mapping:
            mapping[key] = len(mapping) + 1
        return mapping[key]

    def product_code(self, product: int) -> str:
        return {v: k for k, v in self.products.items()}[product]


@dataclass
class TrainingData:
    interactions: pd.DataFrame
    products: pd.DataFrame
    retailers: pd.DataFrame

    def __post_init__(self) -> None:
        self.interactions = normalise_interactions(self.interactions)
        missing = np.setdiff1d(self.interactions["product"].unique(), self.products.index.to_numpy())
        if len(missing):
            # Products seen in orders but absent from the catalogue frame still need a row to be ranked.
            first = self.interactions.groupby("product")["ts"].min()
            extra = pd.DataFrame(
                {"name": "", "description": "", "category": "", "vendor": "", "price": np.nan},
                index=pd.Index(missing, name="product"),
            )
            extra["first_seen"] = first.reindex(missing).to_numpy()
            self.products = pd.concat([self.products, extra])
        self.products = self.products.sort_index()
        self.products.index = self.products.index.astype("int64").rename("product")

    def subset_orders(self, orders: np.ndarray) -> "TrainingData":
        """Same catalogue and retailers, only the interactions of `orders`."""
        keep = self.interactions["order"].isin(orders)
        return TrainingData(self.interactions[keep].reset_index(drop=True), self.products, self.retailers)

    @cached_property
    def view(self) -> "BasketView":
        return BasketView.build(self)


def normalise_interactions(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame[INTERACTION_COLUMNS].copy()
    for column in ["retailer", "order", "product"]:
        out[column] = out[column].astype("int64")
    out["ts"] = pd.to_datetime(out["ts"]).astype("datetime64[ns]")
    out["quantity"] = out["quantity"].astype("float64")
    return out


@dataclass
class BasketView:
    """Index spaces and per-order tables shared by all models (built once per TrainingData)."""

    product_ids: np.ndarray
    retailer_ids: np.ndarray
    lines: pd.DataFrame  # one row per (order, product): order, r, p, ts, recency, quantity
    orders: pd.DataFrame  # one row per order: order, r, ts, recency (0 = retailer's latest), n_orders
    cutoff: pd.Timestamp

    @classmethod
    def build(cls, data: TrainingData) -> "BasketView":
        inter = data.interactions
        product_ids = data.products.index.to_numpy(dtype="int64")
        retailer_ids = np.union1d(inter["retailer"].unique(), data.retailers.index.to_numpy(dtype="int64"))
        lines = inter.groupby(["order", "product"], as_index=False).agg(
            retailer=("retailer", "first"), ts=("ts", "min"), quantity=("quantity", "sum")
        )
        orders = lines.groupby("order", as_index=False).agg(retailer=("retailer", "first"), ts=("ts", "min"))
        orders = orders.sort_values(["retailer", "ts", "order"]).reset_index(drop=True)
        orders["recency"] = orders.groupby("retailer").cumcount(ascending=False)
        orders["n_orders"] = orders.groupby("retailer")["order"].transform("size")
        orders["r"] = np.searchsorted(retailer_ids, orders["retailer"].to_numpy())
        lines = lines.merge(orders[["order", "recency", "r"]], on="order")
        lines["p"] = np.searchsorted(product_ids, lines["product"].to_numpy())
        cutoff = inter["ts"].max() if len(inter) else pd.Timestamp("1970-01-01")
        return cls(product_ids, retailer_ids, lines, orders, cutoff)

    @property
    def n_products(self) -> int:
        return len(self.product_ids)

    @property
    def n_retailers(self) -> int:
        return len(self.retailer_ids)

    def matrix(self, values: np.ndarray | pd.Series) -> sp.csr_matrix:
        """Retailer x product sparse matrix summing `values` over lines."""
        return sp.csr_matrix(
            (np.asarray(values, dtype="float64"), (self.lines["r"].to_numpy(), self.lines["p"].to_numpy())),
            shape=(self.n_retailers, self.n_products),
        )

    def decayed(self, half_life_orders: float) -> sp.csr_matrix:
        """Share of the retailer's (recency-weighted) orders that contain each product, in [0, 1]."""
        weights = 0.5 ** (self.lines["recency"].to_numpy() / half_life_orders)
        totals = np.zeros(self.n_retailers)
        np.add.at(
            totals, self.orders["r"].to_numpy(), 0.5 ** (self.orders["recency"].to_numpy() / half_life_orders)
        )
        return sp.diags(1 / np.maximum(totals, 1e-12)) @ self.matrix(weights)


def trend(view: BasketView, days: int) -> np.ndarray:
    """0..1 per product: how many orders contained it in the last `days` (log-scaled, 1 = the top product).

    Gift-ware demand is seasonal: what everybody orders this month predicts which of a retailer's usual
    products
    come back next.
    """
    recent = view.lines["p"].to_numpy()[(view.lines["ts"] > view.cutoff - pd.Timedelta(days=days)).to_numpy()]
    counts = np.bincount(recent, minlength=view.n_products).astype("float64")
    return np.log1p(100 * counts / max(counts.max(initial=0), 1)) / np.log1p(100)


def training_data_from_rows(rows: Iterable[Any]) -> tuple[TrainingData, IdMaps]:
    """Build TrainingData from `orders.sources.TransactionRow`s (callers drop rejected/skipped rows)."""
    maps = IdMaps()
    records = []
    for row in rows:
        records.append(
            (
                IdMaps._id(maps.retailers, str(row.customer)),
                IdMaps._id(maps.orders, str(row.order)),
                IdMaps._id(maps.products, str(row.product)),
                row.placed_at,
                float(row.quantity),
                row.description or "",
                float(row.unit_price) if row.unit_price is not None else np.nan,
                getattr(row, "category", "") or "",
                getattr(row, "country", "") or "",
            )
        )
    frame = pd.DataFrame(
        records,
        columns=[*INTERACTION_COLUMNS, "description", "price", "category", "country"],
    )
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True).dt.tz_localize(None)
    grouped = frame.groupby("product")
    products = pd.DataFrame(
        {
            # The same code can carry several spellings: the most frequent one names it.
            "name": grouped["description"].agg(
                lambda s: s[s != ""].mode().iloc[0] if (s != "").any() else ""
            ),
            "category": grouped["category"].agg(lambda s: s.mode().iloc[0]),
            "price": grouped["price"].median(),
            "first_seen": grouped["ts"].min(),
        }
    )
    products["description"] = ""
    products["vendor"] = ""
    products = products[PRODUCT_COLUMNS].rename_axis("product")
    retailers = pd.DataFrame(
        {"region": frame.groupby("retailer")["country"].agg(lambda s: s.mode().iloc[0])}
    ).rename_axis("retailer")
    retailers["segment"] = ""
    return TrainingData(frame[INTERACTION_COLUMNS], products, retailers[RETAILER_COLUMNS]), maps
