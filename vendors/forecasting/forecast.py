"""`forecast_series`: the production forecast of every series, its chosen method, reason and intervals."""

import time
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from .engine import (
    WEEK,
    Calibration,
    Choices,
    SelectionRule,
    calibrate,
    choose,
    cross_validate,
    forecast_all,
    series_scale,
)
from .methods import METHODS, NAIVE, WINDOW_AVERAGE
from .panel import zero_filled

# Forecast starts of the backtest that chooses and calibrates each series' method.
BACKTEST_WINDOWS = 8
# Weeks of training a series needs at its earliest backtest window.
MIN_TRAIN_WEEKS = 4
DEFAULT_RULE = SelectionRule()


@dataclass(frozen=True)
class SeriesForecast:
    unique_id: str
    method: str
    method_label: str
    reason: str
    naive_fallback: bool
    backtest_wape: float | None
    naive_wape: float | None
    backtest_windows: int
    candidates: dict[str, float]
    weeks: list[date]
    point: list[float]
    lo80: list[float]
    hi80: list[float]
    lo95: list[float]
    hi95: list[float]


@dataclass(frozen=True)
class ForecastResult:
    last_week: date | None
    horizon: int
    series: dict[str, SeriesForecast]
    seconds: float


def clean_panel(weekly: pd.DataFrame) -> pd.DataFrame:
    """The panel typed and sorted, each series zero-filled up to the panel's last week."""
    panel = pd.DataFrame(
        {
            "unique_id": weekly["unique_id"].astype(str),
            "ds": pd.to_datetime(weekly["ds"]).astype("datetime64[ns]"),
            "y": weekly["y"].astype(float),
        }
    )
    summed = panel.groupby(["unique_id", "ds"], sort=True)["y"].sum()
    return zero_filled(summed, panel["ds"].max())


def forecast_series(weekly: pd.DataFrame, *, horizon: int = 8) -> ForecastResult:
    """Fit on all history up to the panel's last week and forecast `horizon` weeks after it, per series.

    The method of each series is chosen, and the intervals calibrated, on a rolling-origin backtest over
    the last `BACKTEST_WINDOWS` forecast starts whose `horizon` weeks are all known (see `engine.choose`).
    """
    started = time.perf_counter()
    if weekly.empty:
        return ForecastResult(last_week=None, horizon=horizon, series={}, seconds=0.0)
    panel = clean_panel(weekly)
    last = panel["ds"].max()
    lengths = panel.groupby("unique_id").size()
    windows = int(min(BACKTEST_WINDOWS, lengths.max() - horizon - MIN_TRAIN_WEEKS + 1))
    needed = horizon + windows - 1 + MIN_TRAIN_WEEKS
    choices: Choices | None = None
    calibration: Calibration | None = None
    scale = series_scale(panel, last)
    if windows >= 1:
        long_ids = lengths.index[lengths >= needed]
        cv, _ = cross_validate(panel[panel["unique_id"].isin(long_ids)], horizon=horizon, windows=windows)
        choices = choose(cv, DEFAULT_RULE)
        calibration = calibrate(cv, scale)
    future, _ = forecast_all(panel, horizon=horizon)
    future = future.sort_values(["unique_id", "step"])
    weeks = [(last + WEEK * step).date() for step in range(1, horizon + 1)]
    peaks = panel.groupby("unique_id")["y"].max()
    series: dict[str, SeriesForecast] = {}
    for uid, rows in future.groupby("unique_id", sort=True):
        uid = str(uid)
        series[uid] = _series_forecast(
            uid,
            rows,
            choices=choices,
            calibration=calibration,
            scale=float(scale.get(uid, 1.0)),
            peak=float(peaks[uid]),
            length=int(lengths[uid]),
            needed=needed,
            horizon=horizon,
            weeks=weeks,
        )
    return ForecastResult(
        last_week=last.date(), horizon=horizon, series=series, seconds=time.perf_counter() - started
    )


def _series_forecast(
    uid: str,
    rows: pd.DataFrame,
    *,
    choices: Choices | None,
    calibration: Calibration | None,
    scale: float,
    peak: float,
    length: int,
    needed: int,
    horizon: int,
    weeks: list[date],
) -> SeriesForecast:
    chosen = choices.table.loc[uid] if choices is not None and uid in choices.table.index else None
    overall = choices.overall if choices is not None else WINDOW_AVERAGE
    if chosen is not None:
        method = str(chosen["method"])
        kind = str(chosen["kind"])
    else:
        method, kind = overall, "short"
    if rows[method].isna().any():
        # A window average needs 4 weeks and a seasonal naive a season: repeating the last week always works.
        method, kind = NAIVE, "too_short_for_method"
    point = np.maximum(rows[method].to_numpy(dtype=float), 0.0)
    if calibration is not None and method in calibration.quantiles:
        bounds = calibration.bounds(method, rows["step"].to_numpy(), point, np.full(point.shape, scale))
    else:
        # Nothing to calibrate on: from no sale to the largest week seen.
        low, high = np.zeros_like(point), np.maximum(point, peak)
        bounds = {"lo80": low, "hi80": high, "lo95": low, "hi95": high}
    hi80 = np.maximum(bounds["hi80"], point)
    hi95 = np.maximum(bounds["hi95"], hi80)
    lo80 = np.minimum(bounds["lo80"], point)
    lo95 = np.minimum(bounds["lo95"], lo80)
    candidates = choices.candidates.get(uid, {}) if chosen is not None and choices is not None else {}
    windows = int(chosen["windows"]) if chosen is not None else 0
    backtest_wape = candidates.get(method) if kind != "unsold" else None
    naive_wape = _number(chosen["naive_wape"]) if chosen is not None and kind != "unsold" else None
    return SeriesForecast(
        unique_id=uid,
        method=method,
        method_label=METHODS[method].label,
        reason=_reason(
            method,
            kind,
            candidates=candidates,
            windows=windows,
            horizon=horizon,
            length=length,
            needed=needed,
            has_backtest=choices is not None,
        ),
        naive_fallback=kind == "naive",
        backtest_wape=backtest_wape,
        naive_wape=naive_wape,
        backtest_windows=windows,
        candidates=candidates,
        weeks=weeks,
        point=_rounded(point),
        lo80=_rounded(lo80),
        hi80=_rounded(hi80),
        lo95=_rounded(lo95),
        hi95=_rounded(hi95),
    )


def _reason(
    method: str,
    kind: str,
    *,
    candidates: dict[str, float],
    windows: int,
    horizon: int,
    length: int,
    needed: int,
    has_backtest: bool,
) -> str:
    label = METHODS[method].label
    if kind == "too_short_for_method":
        return (
            f"This product has {length} weeks of sales history, too few for the method chosen for it, "
            f"so its forecast repeats last week."
        )
    if kind == "short":
        if not has_backtest:
            return (
                f"No product has the {needed} weeks of sales history a backtest needs, "
                f"so this product's forecast uses {label}."
            )
        return (
            f"This product has {length} weeks of sales history, fewer than the {needed} a backtest needs, "
            f"so its forecast uses {label}, the most accurate method across all products."
        )
    if kind == "unsold":
        return (
            f"This product sold nothing in its {windows} backtest windows, so no error could be measured; "
            f"its forecast uses {label}, the most accurate method across all products."
        )
    naive = candidates[NAIVE]
    if kind == "naive":
        others = {key: value for key, value in candidates.items() if key != NAIVE}
        best = min(others, key=others.__getitem__)
        return (
            f"No method beat repeating last week on this product: its {horizon}-week error (WAPE) was "
            f"{naive:.2f} over {windows} backtest windows, against {others[best]:.2f} for "
            f"{METHODS[best].phrase}."
        )
    own = candidates.get(method)
    if method == NAIVE:
        others = {key: value for key, value in candidates.items() if key != NAIVE}
        best = min(others, key=others.__getitem__)
        return (
            f"Repeating last week, the most accurate method across all products, had {_weeks(horizon)} "
            f"error (WAPE) of {naive:.2f} over {windows} backtest windows; {METHODS[best].phrase} had "
            f"{others[best]:.2f} there, a lead too small or unsteady to trust."
        )
    prefix = label if kind == "own" else f"{label}, the most accurate method across all products,"
    if own is None:
        return f"{prefix} was used; repeating last week had {_weeks(horizon)} error (WAPE) of {naive:.2f}."
    if naive < own:
        return (
            f"{prefix} had {_weeks(horizon)} error (WAPE) of {own:.2f} over {windows} backtest windows; "
            f"repeating last week had {naive:.2f} there, a lead too small or unsteady to trust."
        )
    return (
        f"{prefix} had {_weeks(horizon)} error (WAPE) of {own:.2f} over {windows} backtest windows, "
        f"against {naive:.2f} for repeating last week."
    )


def _weeks(horizon: int) -> str:
    """ "a 4-week", "an 8-week", "an 11-week": the article as the number is read aloud."""
    spoken = str(horizon)
    vowel = spoken.startswith("8") or (len(spoken) in (2, 5, 6) and spoken.startswith(("11", "18")))
    return f"{'an' if vowel else 'a'} {horizon}-week"


def _number(value: object) -> float | None:
    number = float(value)  # type: ignore[arg-type]
    return None if np.isnan(number) else round(number, 6)


def _rounded(values: np.ndarray) -> list[float]:
    return [round(float(value), 4) for value in values]
