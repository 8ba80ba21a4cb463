"""Rolling-origin forecasts of every candidate, per-series selection and pooled interval calibration.

Everything here works on "origin" dates: a choice or a calibration made at origin `o` (the last week of
training) only reads backtest rows whose target week is on or before `o`, so the evaluation in
`vendors.forecasting.backtest` never looks ahead.
"""

import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from statsforecast import StatsForecast
from statsforecast.models import Naive

from .methods import BASE_METHODS, COMBINATIONS, METHODS, NAIVE, Method

FREQ = "W-MON"
WEEK = pd.Timedelta(days=7)
LEVELS = (80, 95)
# Quantiles of the normalised residuals giving the central 80% and 95% intervals.
QUANTILES = {"lo80": 0.10, "hi80": 0.90, "lo95": 0.025, "hi95": 0.975}
# Below this many residuals for one method and horizon step, the step's quantiles are too noisy and the
# residuals of every step are pooled instead.
MIN_STEP_RESIDUALS = 200


@dataclass(frozen=True)
class SelectionRule:
    """How a series may leave the method that is best across all series (see `choose`).

    `margin`: the series' own best method must have a WAPE at most (1 - margin) times that of the overall
    best method on the series' windows; `stability`: and be better than it in at least this share of the
    windows; `min_windows`: the series needs at least this many backtest windows for either.
    """

    margin: float = 0.5
    stability: float = 0.75
    min_windows: int = 6


def _statsforecast(method: Method) -> StatsForecast:
    # AutoETS refuses a series of a handful of weeks ("tiny datasets"): the fallback repeats the last week.
    return StatsForecast(models=[method.model()], freq=FREQ, n_jobs=1, fallback_model=Naive(alias=method.key))


def cross_validate(
    weekly: pd.DataFrame, *, horizon: int, windows: int, methods: Iterable[Method] = BASE_METHODS
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Rolling-origin forecasts: unique_id, cutoff, ds, step, y and one column per method and combination.

    Windows end at cutoffs `windows` consecutive weeks, the last one `horizon` weeks before the panel's last
    week; each is refitted on the weeks up to its cutoff only (statsforecast's cross_validation, refit=True).
    `seconds` holds each method's fitting time.
    """
    frame: pd.DataFrame | None = None
    seconds: dict[str, float] = {}
    for method in methods:
        started = time.perf_counter()
        with warnings.catch_warnings():
            # SeasonalNaive warns for every series shorter than a season: it returns NaN there, as wanted.
            warnings.simplefilter("ignore", UserWarning)
            # AutoETS divides by zero on a series with as many parameters as weeks, then falls back.
            warnings.simplefilter("ignore", RuntimeWarning)
            result = _statsforecast(method).cross_validation(
                df=weekly, h=horizon, n_windows=windows, step_size=1
            )
        seconds[method.key] = time.perf_counter() - started
        result = result.set_index(["unique_id", "cutoff", "ds"])
        if frame is None:
            frame = result[["y", method.key]]
        else:
            frame[method.key] = result[method.key]
    assert frame is not None
    frame = frame.reset_index()
    frame["unique_id"] = frame["unique_id"].astype(str)
    frame["step"] = ((frame["ds"] - frame["cutoff"]) / WEEK).astype(int)
    seconds.update(add_combinations(frame))
    return frame, seconds


def forecast_all(
    weekly: pd.DataFrame, *, horizon: int, methods: Iterable[Method] = BASE_METHODS
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Every method fitted on all of each series and forecast `horizon` weeks: unique_id, ds, step, ..."""
    frame: pd.DataFrame | None = None
    seconds: dict[str, float] = {}
    for method in methods:
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            # AutoETS divides by zero on a series with as many parameters as weeks, then falls back.
            warnings.simplefilter("ignore", RuntimeWarning)
            result = _statsforecast(method).forecast(df=weekly, h=horizon)
        seconds[method.key] = time.perf_counter() - started
        result = result.set_index(["unique_id", "ds"])
        if frame is None:
            frame = result[[method.key]].copy()
        else:
            frame[method.key] = result[method.key]
    assert frame is not None
    frame = frame.reset_index()
    frame["unique_id"] = frame["unique_id"].astype(str)
    last = weekly.groupby("unique_id")["ds"].max()
    last.index = last.index.astype(str)
    frame["step"] = ((frame["ds"] - frame["unique_id"].map(last)) / WEEK).astype(int)
    seconds.update(add_combinations(frame))
    return frame, seconds


def add_combinations(frame: pd.DataFrame) -> dict[str, float]:
    """Add each combination's column (mean or median of its members, NaN if one is missing); its seconds."""
    seconds: dict[str, float] = {}
    for combination in COMBINATIONS:
        started = time.perf_counter()
        members = frame[list(combination.members)]
        combined = members.mean(axis=1) if combination.combine == "mean" else members.median(axis=1)
        frame[combination.key] = combined.where(members.notna().all(axis=1))
        seconds[combination.key] = time.perf_counter() - started
    return seconds


def series_scale(weekly: pd.DataFrame, origin: pd.Timestamp) -> pd.Series:
    """Per series, the mean absolute week-on-week change up to `origin` (the MASE scale).

    A series that never changed gets its mean weekly units, and one without any sale 1, so that every
    series has a positive scale for the normalised residuals.
    """
    past = weekly[weekly["ds"] <= origin].sort_values(["unique_id", "ds"])
    change = past.groupby("unique_id")["y"].diff().abs()
    scale = change.groupby(past["unique_id"]).mean()
    level = past.groupby("unique_id")["y"].mean()
    scale = scale.where(scale > 0, level)
    scale.index = scale.index.astype(str)
    return scale.where(scale > 0, 1.0).fillna(1.0)


@dataclass(frozen=True)
class Choices:
    """Per series choice at one origin (indexed by unique_id) and the method best across all series."""

    table: pd.DataFrame  # method, kind, windows, wape (chosen), naive_wape
    candidates: dict[str, dict[str, float]]
    overall: str
    overall_wape: dict[str, float]


def choose(past: pd.DataFrame, rule: SelectionRule, keys: Iterable[str] | None = None) -> Choices:
    """Pick a method per series from backtest rows that are all known at the origin.

    1. The overall method is the one with the lowest WAPE pooled over every series (the target measure).
    2. A series keeps it unless one of its own candidates beats it clearly and steadily (`rule`).
    3. The naive forecast is one of the candidates: where it is the series' best and its lead is clear and
       steady, no method beats it and it is used (`kind` "naive"). A narrow or unsteady lead of naive is
       noise on a dozen weeks (measured: trusting it costs 0.016 WAPE on the tuning windows, see
       docs/forecasting.md), and the overall method is kept; the reason says so.
    Kinds: "overall", "own", "naive", "unsold" (no sale in the backtest rows: WAPE undefined, overall used).
    """
    keys = [key for key in (keys or METHODS) if key in past.columns]
    errors = past[keys].sub(past["y"], axis=0).abs()
    errors["unique_id"] = past["unique_id"].to_numpy()
    errors["cutoff"] = past["cutoff"].to_numpy()
    errors["y"] = past["y"].to_numpy()
    # A NaN forecast (seasonal naive on a short series) must make the method unavailable, not free.
    per_window = errors.groupby(["unique_id", "cutoff"]).sum(min_count=1)
    complete = errors[keys].notna().groupby(errors["unique_id"]).all()
    per_series = per_window.groupby(level="unique_id").sum(min_count=1)
    per_series[keys] = per_series[keys].where(complete)
    windows = per_window.groupby(level="unique_id").size()

    total_y = per_series["y"].sum()
    available_everywhere = [key for key in keys if complete[key].all()]
    overall_wape = {
        key: float(per_series[key].sum() / total_y) if total_y > 0 else float("nan")
        for key in available_everywhere
    }
    overall = min(available_everywhere, key=lambda key: (overall_wape[key], key != NAIVE))

    y = per_series["y"]
    wape = per_series[keys].div(y.where(y > 0), axis=0)
    # A missing WAPE never wins; a series with none at all is "unsold" and keeps the overall method.
    ranked = wape.fillna(np.inf)
    own_best = ranked.idxmin(axis=1)

    wins = per_window[keys].lt(per_window[[overall]].to_numpy(), axis=0)
    win_share = wins.groupby(level="unique_id").mean()

    method = pd.Series(overall, index=per_series.index)
    kind = pd.Series("overall", index=per_series.index)
    sold = y > 0
    own_best_wape = wape.min(axis=1)
    overall_series_wape = wape[overall]
    own_share = pd.Series(
        [win_share.at[uid, best] if isinstance(best, str) else 0.0 for uid, best in own_best.items()],
        index=own_best.index,
    )
    clear = (
        sold
        & (windows >= rule.min_windows)
        & (own_best != overall)
        & (own_best_wape <= (1 - rule.margin) * overall_series_wape)
        & (own_share >= rule.stability)
    )
    method[clear] = own_best[clear]
    kind[clear] = "own"
    # Naive is judged like every candidate: where nothing beats it clearly and steadily, it is used.
    kind[sold & (own_best == NAIVE) & (clear | (method == NAIVE))] = "naive"
    kind[~sold] = "unsold"

    chosen_wape = pd.Series(
        [wape.at[uid, key] for uid, key in method.items()], index=method.index, dtype=float
    )
    table = pd.DataFrame(
        {
            "method": method,
            "kind": kind,
            "windows": windows,
            "wape": chosen_wape,
            "naive_wape": wape[NAIVE] if NAIVE in keys else np.nan,
        }
    )
    candidates = {
        str(uid): {key: round(float(value), 6) for key, value in row.items() if pd.notna(value)}
        for uid, row in wape.iterrows()
    }
    return Choices(table=table, candidates=candidates, overall=overall, overall_wape=overall_wape)


@dataclass(frozen=True)
class Calibration:
    """Quantiles of normalised residuals (y - forecast) / scale per method and horizon step."""

    quantiles: dict[str, dict[int, dict[str, float]]]

    def bounds(
        self, method: str, step: np.ndarray, point: np.ndarray, scale: np.ndarray
    ) -> dict[str, np.ndarray]:
        table = self.quantiles[method]
        out = {}
        for name in QUANTILES:
            offset = np.array([table.get(int(s), table[0])[name] for s in step])
            out[name] = np.maximum(point + offset * scale, 0.0)
        return out


def calibrate(past: pd.DataFrame, scale: pd.Series, keys: Iterable[str] | None = None) -> Calibration:
    """Pool the normalised residuals of every series per method: many series share one calibration.

    Step 0 holds the quantiles of all steps together, used for a step with too few residuals (or beyond the
    backtest's horizon).
    """
    keys = [key for key in (keys or METHODS) if key in past.columns]
    scales = past["unique_id"].map(scale).to_numpy()
    quantiles: dict[str, dict[int, dict[str, float]]] = {}
    for key in keys:
        residual = (past["y"].to_numpy() - past[key].to_numpy()) / scales
        mask = ~np.isnan(residual)
        steps = past["step"].to_numpy()[mask]
        residual = residual[mask]
        if residual.size == 0:
            continue
        table = {0: _quantiles(residual)}
        for step in np.unique(steps):
            values = residual[steps == step]
            if values.size >= MIN_STEP_RESIDUALS:
                table[int(step)] = _quantiles(values)
        quantiles[key] = table
    return Calibration(quantiles=quantiles)


def _quantiles(values: np.ndarray) -> dict[str, float]:
    return {name: float(np.quantile(values, q)) for name, q in QUANTILES.items()}
