"""Rolling-origin evaluation of every method and of the per-series selection, without look-ahead."""

import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from .engine import WEEK, SelectionRule, calibrate, choose, cross_validate, series_scale
from .forecast import DEFAULT_RULE, MIN_TRAIN_WEEKS, clean_panel
from .methods import METHODS, NAIVE

SELECTION = "selection"
SELECTION_LABEL = "Per-series selection"


@dataclass(frozen=True)
class MethodScore:
    method: str
    label: str
    wape: float
    mase: float
    bias: float
    coverage80: float
    coverage95: float
    seconds: float
    series: int

    def as_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "wape": round(self.wape, 4),
            "mase": round(self.mase, 4),
            "bias": round(self.bias, 4),
            "coverage@80": round(self.coverage80, 4),
            "coverage@95": round(self.coverage95, 4),
            "seconds": round(self.seconds, 2),
            "series": self.series,
        }


@dataclass(frozen=True)
class BacktestReport:
    origins: list[date]
    horizon: int
    min_history: int
    series: int
    calibration_windows: int
    scores: dict[str, MethodScore]
    # Per origin: the method best across all series on earlier windows, and how many series took which kind
    # of choice ("overall", "own", "naive", "unsold").
    selection: list[dict[str, Any]] = field(default_factory=list)

    @property
    def protocol(self) -> str:
        return (
            f"Rolling origin: each of the last {len(self.origins)} weeks with {self.horizon} known weeks "
            f"after it as a forecast start ({self.origins[0]} to {self.origins[-1]}), horizon {self.horizon} "
            f"weeks; {self.series} series with at least {self.min_history} weeks of history up to the first "
            f"origin. Each method is refitted at every origin on the weeks up to it. The selection and the "
            f"interval calibration at an origin use only backtest weeks up to that origin "
            f"({self.calibration_windows} earlier forecast starts before the first). WAPE = sum|y - f| / "
            f"sum y and bias = sum(f - y) / sum y over all series, origins and steps; MASE = mean over "
            f"series and origins of the mean absolute error divided by the series' mean absolute weekly "
            f"change up to the origin; coverage = share of actual weeks inside the interval."
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "origins": [str(origin) for origin in self.origins],
            "horizon": self.horizon,
            "series": self.series,
            "methods": {key: score.as_json() for key, score in self.scores.items()},
            "selection": self.selection,
        }


def backtest(
    weekly: pd.DataFrame,
    *,
    origins: int = 8,
    horizon: int = 4,
    min_history: int = 20,
    calibration_windows: int = 8,
    rule: SelectionRule = DEFAULT_RULE,
) -> BacktestReport:
    """Score every method and the per-series selection over the last `origins` forecast starts.

    The backtest runs `calibration_windows` (+ horizon - 1) extra forecast starts before the first origin,
    so that the selection and calibration at the first origin have as many complete windows as asked.
    """
    panel = clean_panel(weekly)
    last = panel["ds"].max()
    first_origin = last - WEEK * (horizon + origins - 1)
    origin_dates = [first_origin + WEEK * index for index in range(origins)]
    history = panel[panel["ds"] <= first_origin].groupby("unique_id").size()
    eligible = history.index[history >= min_history]
    if eligible.empty:
        raise ValueError(f"no series has {min_history} weeks of history before {first_origin.date()}")
    panel = panel[panel["unique_id"].isin(eligible)]
    shortest = int(panel.groupby("unique_id").size().min())
    windows = min(origins + calibration_windows + horizon - 1, shortest - horizon + 1 - MIN_TRAIN_WEEKS)
    windows = max(windows, origins)
    cv, seconds = cross_validate(panel, horizon=horizon, windows=windows)
    keys = [key for key in METHODS if key in cv.columns]

    started = time.perf_counter()
    results: dict[str, list[pd.DataFrame]] = {key: [] for key in [*keys, SELECTION]}
    summary: list[dict[str, Any]] = []
    for origin in origin_dates:
        past = cv[cv["ds"] <= origin]
        scale = series_scale(panel, origin)
        calibration = calibrate(past, scale, keys)
        choices = choose(past, rule, keys)
        current = cv[cv["cutoff"] == origin]
        scales = current["unique_id"].map(scale).to_numpy()
        steps = current["step"].to_numpy()
        for key in keys:
            if key not in calibration.quantiles:
                continue
            point = np.maximum(current[key].to_numpy(dtype=float), 0.0)
            bounds = calibration.bounds(key, steps, point, scales)
            results[key].append(_rows(current, origin, point, bounds, scales))
        chosen = current["unique_id"].map(choices.table["method"]).fillna(choices.overall).to_numpy()
        point = np.full(len(current), np.nan)
        bounds = {name: np.full(len(current), np.nan) for name in ("lo80", "hi80", "lo95", "hi95")}
        for key in np.unique(chosen):
            mask = chosen == key
            values = current[key].to_numpy(dtype=float)[mask]
            if np.isnan(values).any():
                key = NAIVE
                values = current[NAIVE].to_numpy(dtype=float)[mask]
            values = np.maximum(values, 0.0)
            point[mask] = values
            for name, bound in calibration.bounds(key, steps[mask], values, scales[mask]).items():
                bounds[name][mask] = bound
        results[SELECTION].append(_rows(current, origin, point, bounds, scales))
        kinds = choices.table["kind"].value_counts()
        summary.append(
            {
                "origin": str(origin.date()),
                "overall_method": choices.overall,
                "overall_wape": round(choices.overall_wape[choices.overall], 4),
                **{kind: int(kinds.get(kind, 0)) for kind in ("overall", "own", "naive", "unsold")},
            }
        )
    selection_seconds = time.perf_counter() - started

    scores: dict[str, MethodScore] = {}
    for key in [*keys, SELECTION]:
        if not results[key]:
            continue
        frame = pd.concat(results[key], ignore_index=True).dropna(subset=["point"])
        if frame.empty:
            continue
        if key == SELECTION:
            spent = sum(seconds.values()) + selection_seconds
            label = SELECTION_LABEL
        elif METHODS[key].members:
            spent = seconds[key] + sum(seconds[member] for member in METHODS[key].members)
            label = METHODS[key].label
        else:
            spent, label = seconds[key], METHODS[key].label
        scores[key] = _score(key, label, frame, spent)
    return BacktestReport(
        origins=[origin.date() for origin in origin_dates],
        horizon=horizon,
        min_history=min_history,
        series=len(eligible),
        calibration_windows=windows - origins - horizon + 1,
        scores=scores,
        selection=summary,
    )


def _rows(
    current: pd.DataFrame,
    origin: pd.Timestamp,
    point: np.ndarray,
    bounds: dict[str, np.ndarray],
    scales: np.ndarray,
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "unique_id": current["unique_id"].to_numpy(),
            "origin": origin,
            "y": current["y"].to_numpy(dtype=float),
            "point": point,
            "scale": scales,
            **bounds,
        }
    )


def _score(key: str, label: str, frame: pd.DataFrame, seconds: float) -> MethodScore:
    error = frame["point"] - frame["y"]
    total = frame["y"].sum()
    absolute = error.abs()
    mase = (absolute / frame["scale"]).groupby([frame["unique_id"], frame["origin"]]).mean().mean()
    inside80 = (frame["y"] >= frame["lo80"]) & (frame["y"] <= frame["hi80"])
    inside95 = (frame["y"] >= frame["lo95"]) & (frame["y"] <= frame["hi95"])
    return MethodScore(
        method=key,
        label=label,
        wape=float(absolute.sum() / total) if total > 0 else float("nan"),
        mase=float(mase),
        bias=float(error.sum() / total) if total > 0 else float("nan"),
        coverage80=float(inside80.mean()),
        coverage95=float(inside95.mean()),
        seconds=seconds,
        series=int(frame["unique_id"].nunique()),
    )


def format_table(report: BacktestReport) -> str:
    """The scores as a Markdown table, one row per method, the selection last."""
    lines = [
        "| method | WAPE | MASE | bias | coverage@80 | coverage@95 | seconds | series |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for score in report.scores.values():
        lines.append(
            f"| {score.label} | {score.wape:.3f} | {score.mase:.3f} | {score.bias:+.3f} | "
            f"{score.coverage80:.1%} | {score.coverage95:.1%} | {score.seconds:.1f} | {score.series} |"
        )
    return "\n".join(lines)
