"""Personal repeat model: time-decayed purchase frequency boosted by "due now" from the reorder cadence."""

from collections.abc import Sequence
from datetime import date

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommendations.ml.base import Recommender, csr_value, dense_rows, iso_day
from recommendations.ml.data import TrainingData, trend
from recommendations.ml.types import DuePrediction

_DAY = np.timedelta64(1, "D")
# A repeat product whose reorder is at least this close (0..1) at the retailer's next expected order is "due".
DUE_THRESHOLD = 0.5


def _day_number(day: date) -> float:
    return float((np.datetime64(day, "D") - np.datetime64("1970-01-01", "D")) / _DAY)


class RepeatModel(Recommender):
    name = "repeat"
    kind = "repeat"

    def __init__(
        self,
        *,
        half_life_orders: float = 5.0,
        due_weight: float = 0.3,
        trend_weight: float = 3.0,
        trend_days: int = 30,
    ):
        self.half_life_orders = half_life_orders
        self.due_weight = due_weight
        self.trend_weight = trend_weight
        self.trend_days = trend_days

    def _fit(self, data: TrainingData) -> None:
        # A refit changes every row's due closeness.
        self._last_due_row = None
        view = data.view
        lines = view.lines.sort_values(["r", "p", "ts"])
        days = (lines["ts"].to_numpy() - np.datetime64("1970-01-01")) / _DAY
        lines = lines.assign(day=days, gap=np.diff(days, prepend=np.nan))
        first = (lines["r"].to_numpy() != np.roll(lines["r"].to_numpy(), 1)) | (
            lines["p"].to_numpy() != np.roll(lines["p"].to_numpy(), 1)
        )
        lines.loc[first, "gap"] = np.nan
        per_pair = lines.groupby(["r", "p"]).agg(
            times=("order", "size"),
            last=("day", "max"),
            cadence=("gap", "median"),
            gap_std=("gap", "std"),
            quantity=("quantity", "median"),
        )
        r, p = per_pair.index.get_level_values(0), per_pair.index.get_level_values(1)
        shape = (view.n_retailers, view.n_products)

        def pair_matrix(values: pd.Series) -> sp.csr_matrix:
            return sp.csr_matrix((values.fillna(0).to_numpy(dtype="float64"), (r, p)), shape=shape)

        self.frequency = view.decayed(self.half_life_orders)
        self.trend = trend(view, self.trend_days)
        self.times = pair_matrix(per_pair["times"])
        self.last_day = pair_matrix(per_pair["last"])
        self.cadence = pair_matrix(per_pair["cadence"].clip(lower=1))
        self.regularity = pair_matrix(
            1 / (1 + (per_pair["gap_std"] / per_pair["cadence"].clip(lower=1)).fillna(1))
        )
        self.quantity = pair_matrix(per_pair["quantity"])
        popularity = np.bincount(view.lines["p"], minlength=view.n_products).astype("float64")
        # Products the retailer never bought tie at zero: popularity orders them (as in the README baseline).
        self.padding = 1e-3 * popularity / max(popularity.max(initial=0), 1)
        # The padding's evidence: in how many of the training orders each product is (`padding_reason`).
        self.product_orders = popularity.astype("int64")
        self.n_orders = len(view.orders)
        self.orders_total = np.bincount(view.orders["r"], minlength=view.n_retailers)
        # The next order is expected one typical inter-order gap after the retailer's last order.
        orders = view.orders.sort_values(["r", "ts"])
        order_days = (orders["ts"].to_numpy() - np.datetime64("1970-01-01")) / _DAY
        gaps = pd.Series(np.diff(order_days, prepend=np.nan)).where(
            orders["recency"].to_numpy() < orders["n_orders"].to_numpy() - 1
        )
        typical = gaps.groupby(orders["r"].to_numpy()).median()
        self.last_order_day = np.zeros(view.n_retailers)
        np.maximum.at(self.last_order_day, orders["r"].to_numpy(), order_days)
        self.next_order_day = (
            self.last_order_day + typical.reindex(range(view.n_retailers)).fillna(30).to_numpy()
        )

    def _due(self, rows: np.ndarray, as_of_day: np.ndarray) -> np.ndarray:
        """0..1 closeness of `as_of` to each product's expected reorder day."""
        cadence = dense_rows(self.cadence, rows)
        since = as_of_day[:, None] - dense_rows(self.last_day, rows)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (since - cadence) / np.maximum(0.5 * cadence, 7)
        return np.where(cadence > 0, np.exp(-0.5 * z**2) * dense_rows(self.regularity, rows), 0)

    def _score(self, rows: np.ndarray, baskets: list[np.ndarray]) -> np.ndarray:
        as_of = self.next_order_day[np.maximum(rows, 0)]
        personal = dense_rows(self.frequency, rows) * (1 + self.due_weight * self._due(rows, as_of))
        personal *= 1 + self.trend_weight * self.trend
        return personal + self.padding

    def explain(self, row: int, item: int, basket: np.ndarray) -> dict[str, int | float | str] | None:
        if row < 0:
            return None
        times = csr_value(self.times, row, item)
        if times == 0:
            return None
        facts: dict[str, int | float | str] = {
            "times_ordered": int(times),
            "orders_total": int(self.orders_total[row]),
            "last_ordered": iso_day(csr_value(self.last_day, row, item)),
        }
        cadence = csr_value(self.cadence, row, item)
        if cadence > 0:
            facts["cadence_days"] = round(float(cadence), 1)
        return facts

    def _due_row(self, row: int) -> np.ndarray:
        """The retailer's due closeness over every product at its next order. Kept for the last row asked
        (outside the saved state: the name starts with "_"), since its reasons are built one item after
        another."""
        cached = getattr(self, "_last_due_row", None)
        if cached is None or cached[0] != row:
            cached = self._last_due_row = (row, self._due(np.array([row]), self.next_order_day[[row]])[0])
        return cached[1]

    def reason(self, row: int, item: int) -> tuple[str, dict[str, int | float | str]] | None:
        """The evidence for `item` as a reason: "due" when its reorder is expected by the retailer's next
        order, else "repeat". The last order is kept as a date: its age depends on the day it is read."""
        facts = self.explain(row, item, np.zeros(0, dtype="int64"))
        if facts is None:
            return None
        due = self._due_row(row)[item]
        if "cadence_days" in facts and due >= DUE_THRESHOLD:
            keys = ("cadence_days", "last_ordered", "times_ordered")
            return "due", {key: facts[key] for key in keys}
        return "repeat", {key: facts[key] for key in ("times_ordered", "orders_total", "last_ordered")}

    def padding_reason(self, item: int) -> tuple[str, dict[str, int | float | str]] | None:
        """The evidence for a product the retailer never bought, which this model orders by its padding (the
        number of training orders it is in): that count as an "in_orders" reason. None for a product in no
        order and for a model saved before the counts were kept."""
        counts = vars(self).get("product_orders")
        if counts is None or counts[item] == 0:
            return None
        return "in_orders", {"orders": int(counts[item]), "n_orders": int(self.n_orders)}

    def due(self, retailers: Sequence[int], *, as_of: date, min_times: int = 2) -> list[DuePrediction]:
        rows = self.retailer_rows(retailers)
        as_of_day = _day_number(as_of)
        out: list[DuePrediction] = []
        for retailer, row in zip(retailers, rows, strict=True):
            if row < 0:
                continue
            due = self._due(np.array([row]), np.array([as_of_day]))[0]
            times = self.times[row].toarray()[0]
            for item in np.flatnonzero((times >= min_times) & (due > 0)):
                cadence = float(self.cadence[row, item])
                last = float(self.last_day[row, item])
                confidence = float(due[item]) * min(1.0, (times[item] - 1) / 3)
                out.append(
                    DuePrediction(
                        retailer=int(retailer),
                        product=int(self.product_ids[item]),
                        expected_date=date.fromisoformat(iso_day(last + round(cadence))),
                        confidence=round(confidence, 4),
                        cadence_days=round(cadence, 1),
                        last_ordered=date.fromisoformat(iso_day(last)),
                        suggested_quantity=max(1, round(float(self.quantity[row, item]))),
                        times_ordered=int(times[item]),
                    )
                )
        return sorted(out, key=lambda d: (d.retailer, -d.confidence, d.product))
