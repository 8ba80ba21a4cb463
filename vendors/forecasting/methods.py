"""The candidate methods: statsforecast models and the combinations built from their forecasts."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from statsforecast.models import (
    ADIDA,
    IMAPA,
    TSB,
    AutoETS,
    CrostonOptimized,
    CrostonSBA,
    Naive,
    SeasonalNaive,
    WindowAverage,
)

SEASON_WEEKS = 52
WINDOW_WEEKS = 4
# TSB's smoothing of demand size and of demand probability. Fixed in advance at the value of the reference
# measurements (shared/datasets/README.md); never tuned on the evaluation windows.
TSB_ALPHA = 0.2


@dataclass(frozen=True)
class Method:
    key: str
    label: str
    # How the method is named in a sentence shown to a vendor ("against 0.84 for repeating last week").
    phrase: str
    model: Callable[[], Any] | None = None
    members: tuple[str, ...] = ()
    # "mean" or "median" of the members' forecasts, for a combination.
    combine: str = ""


NAIVE = "naive"
WINDOW_AVERAGE = "window_average"

BASE_METHODS: tuple[Method, ...] = (
    Method(NAIVE, "Naive (last week)", "repeating last week", lambda: Naive(alias=NAIVE)),
    Method(
        WINDOW_AVERAGE,
        "4-week average",
        "the average of the last 4 weeks",
        lambda: WindowAverage(window_size=WINDOW_WEEKS, alias=WINDOW_AVERAGE),
    ),
    Method("auto_ets", "AutoETS", "exponential smoothing (AutoETS)", lambda: AutoETS(alias="auto_ets")),
    # Forecasts are NaN where the series has less than a full season: the method is then not a candidate.
    Method(
        "seasonal_naive",
        "Seasonal naive (52 weeks)",
        "repeating the same week last year",
        lambda: SeasonalNaive(season_length=SEASON_WEEKS, alias="seasonal_naive"),
    ),
    Method("croston", "Croston (optimized)", "Croston's method", lambda: CrostonOptimized(alias="croston")),
    Method("croston_sba", "Croston SBA", "Croston's method (SBA)", lambda: CrostonSBA(alias="croston_sba")),
    Method("adida", "ADIDA", "ADIDA", lambda: ADIDA(alias="adida")),
    Method("imapa", "IMAPA", "IMAPA", lambda: IMAPA(alias="imapa")),
    Method(
        "tsb",
        "TSB",
        "TSB",
        lambda: TSB(alpha_d=TSB_ALPHA, alpha_p=TSB_ALPHA, alias="tsb"),
    ),
)

# Combining forecasts is the classic robust choice on intermittent demand: the members err differently.
# The members are fixed in advance (every smoothing method, no naive, no seasonal naive that exists only for
# long series); whether a combination is used is decided by the backtest like any other candidate.
COMBINATION_MEMBERS = ("window_average", "auto_ets", "croston_sba", "adida", "imapa", "tsb")
COMBINATIONS: tuple[Method, ...] = (
    Method(
        "combination",
        "Combination (mean)",
        "the mean of six methods",
        members=COMBINATION_MEMBERS,
        combine="mean",
    ),
    Method(
        "combination_median",
        "Combination (median)",
        "the median of six methods",
        members=COMBINATION_MEMBERS,
        combine="median",
    ),
)

METHODS: dict[str, Method] = {method.key: method for method in (*BASE_METHODS, *COMBINATIONS)}
