"""The forecasting engine on synthetic series whose level, trend, season and noise are known."""

import re
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from vendors.forecasting import backtest, forecast_series, weekly_panel
from vendors.forecasting.methods import METHODS

START = pd.Timestamp("2022-01-03")  # a Monday


def panel(series: dict[str, np.ndarray], start: pd.Timestamp = START) -> pd.DataFrame:
    frames = [
        pd.DataFrame(
            {"unique_id": uid, "ds": pd.date_range(start, periods=len(values), freq="W-MON"), "y": values}
        )
        for uid, values in series.items()
    ]
    return pd.concat(frames, ignore_index=True).astype({"y": float})


def poisson_panel(count: int, weeks: int, *, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    levels = rng.uniform(2, 40, count)
    return panel({f"p{index}": rng.poisson(level, weeks) for index, level in enumerate(levels)})


def test_weekly_panel_sums_iso_weeks_and_fills_missing_weeks_with_zero() -> None:
    lines = pd.DataFrame(
        {
            "unique_id": ["a", "a", "a", "b", "a"],
            # Wednesday and Sunday of one week, a sale two weeks later, then one after the last week.
            "day": pd.to_datetime(["2024-01-03", "2024-01-07", "2024-01-17", "2024-01-10", "2024-01-22"]),
            "units": [2, 3, 4, 1, 9],
        }
    )

    weekly = weekly_panel(lines, last_week=date(2024, 1, 15))

    a = weekly[weekly["unique_id"] == "a"]
    assert a["ds"].dt.date.tolist() == [date(2024, 1, 1), date(2024, 1, 8), date(2024, 1, 15)]
    assert a["y"].tolist() == [5.0, 0.0, 4.0]
    b = weekly[weekly["unique_id"] == "b"]
    assert b["ds"].dt.date.tolist() == [date(2024, 1, 8), date(2024, 1, 15)]
    assert b["y"].tolist() == [1.0, 0.0]
    assert str(weekly["ds"].dtype) == "datetime64[ns]"


def test_forecast_recovers_a_constant_level() -> None:
    rng = np.random.default_rng(1)
    weekly = panel({f"s{index}": 50 + rng.normal(0, 2, 40) for index in range(20)})

    result = forecast_series(weekly, horizon=4)

    assert result.last_week == (START + pd.Timedelta(weeks=39)).date()
    for forecast in result.series.values():
        assert forecast.weeks == [result.last_week + timedelta(weeks=step) for step in range(1, 5)]
        assert forecast.point == pytest.approx([50.0] * 4, abs=3)
        assert all(
            lo <= p <= hi for lo, p, hi in zip(forecast.lo80, forecast.point, forecast.hi80, strict=True)
        )
        assert all(lo <= lo80 for lo, lo80 in zip(forecast.lo95, forecast.lo80, strict=True))
        assert all(hi >= hi80 for hi, hi80 in zip(forecast.hi95, forecast.hi80, strict=True))


def test_forecast_follows_a_trend() -> None:
    rng = np.random.default_rng(2)
    weeks = np.arange(60)
    weekly = panel({f"t{index}": 20 + 3 * weeks + rng.normal(0, 1, 60) for index in range(10)})

    result = forecast_series(weekly, horizon=4)

    expected = [20 + 3 * (59 + step) for step in range(1, 5)]
    for forecast in result.series.values():
        assert forecast.method == "auto_ets"
        assert forecast.point == pytest.approx(expected, rel=0.05)


def test_forecast_repeats_a_full_yearly_season() -> None:
    rng = np.random.default_rng(3)
    season = 30 + 20 * np.sin(2 * np.pi * np.arange(52) / 52)
    weekly = panel({f"y{index}": np.tile(season, 3)[:130] + rng.normal(0, 0.5, 130) for index in range(8)})

    result = forecast_series(weekly, horizon=4)

    # Week 130 onward of the pattern: positions 130 % 52 = 26 to 29.
    expected = season[26:30]
    for forecast in result.series.values():
        assert forecast.method == "seasonal_naive"
        assert forecast.point == pytest.approx(expected, abs=2.5)


def test_seasonal_naive_is_no_candidate_without_a_full_season() -> None:
    result = forecast_series(poisson_panel(10, 40), horizon=4)

    for forecast in result.series.values():
        assert "seasonal_naive" not in forecast.candidates
        assert forecast.method != "seasonal_naive"


def test_interval_coverage_is_near_nominal_on_noisy_series() -> None:
    weekly = poisson_panel(120, 44, seed=4)

    report = backtest(weekly, origins=6, horizon=4, min_history=20)

    selection = report.scores["selection"]
    assert 0.72 <= selection.coverage80 <= 0.88
    assert 0.90 <= selection.coverage95 <= 0.99
    # On stationary noise every smoother beats repeating last week.
    assert selection.wape < report.scores["naive"].wape


def test_naive_is_used_and_said_when_nothing_beats_it() -> None:
    rng = np.random.default_rng(5)
    # Demand that moved to a new level before the backtest and stays there: last week is exactly right, and
    # the smoothers that remember the old level are worse (a tie with a method that caught up is no win).
    series = {f"w{index}": np.where(np.arange(40) < 24, 10.0 + index, 50.0 + index) for index in range(4)}
    # Large, noisy, stationary series for the smoothers to win across all products.
    series.update({f"s{index}": 1000 + rng.normal(0, 100, 40) for index in range(20)})
    weekly = panel(series)

    result = forecast_series(weekly, horizon=4)

    fallbacks = [forecast for forecast in result.series.values() if forecast.naive_fallback]
    assert fallbacks
    for forecast in fallbacks:
        assert forecast.method == "naive"
        assert forecast.naive_wape == forecast.candidates["naive"] == forecast.backtest_wape
        assert min(forecast.candidates.values()) == forecast.candidates["naive"]
        assert forecast.reason.startswith("No method beat repeating last week on this product")
        others = {key: value for key, value in forecast.candidates.items() if key != "naive"}
        best = min(others, key=others.__getitem__)
        assert f"was {forecast.naive_wape:.2f} over {forecast.backtest_windows} backtest windows" in (
            forecast.reason
        )
        assert f"against {others[best]:.2f} for {METHODS[best].phrase}." in forecast.reason
        assert forecast.point == pytest.approx(
            [weekly[weekly["unique_id"] == forecast.unique_id]["y"].iloc[-1]] * 4
        )
    assert {forecast.unique_id for forecast in fallbacks} == {f"w{index}" for index in range(4)}


def test_reason_quotes_the_stored_errors() -> None:
    result = forecast_series(poisson_panel(30, 40, seed=6), horizon=4)

    for forecast in result.series.values():
        if forecast.naive_fallback or forecast.backtest_wape is None:
            continue
        numbers = [float(value) for value in re.findall(r"\d+\.\d\d", forecast.reason)]
        assert numbers == [round(forecast.backtest_wape, 2), round(forecast.naive_wape, 2)]
        assert forecast.reason.startswith(forecast.method_label)
        assert forecast.candidates[forecast.method] == forecast.backtest_wape


def test_series_too_short_for_a_backtest_get_a_method_and_intervals() -> None:
    weekly = pd.concat(
        [
            poisson_panel(20, 30, seed=7),
            panel({"new": np.array([3.0, 0.0, 5.0])}, START + pd.Timedelta(weeks=27)),
        ]
    )

    result = forecast_series(weekly, horizon=8)

    new = result.series["new"]
    assert new.backtest_windows == 0 and new.backtest_wape is None and new.candidates == {}
    assert new.reason.startswith("This product has 3 weeks of sales history, fewer than the")
    assert new.method_label in new.reason
    assert len(new.point) == len(new.hi95) == 8
    assert min(new.lo95) >= 0 and max(new.hi80) > 0


def test_forecasts_and_intervals_are_never_negative() -> None:
    rng = np.random.default_rng(8)
    sparse = {f"i{index}": rng.binomial(1, 0.15, 36) * rng.poisson(5, 36) for index in range(40)}

    result = forecast_series(panel(sparse), horizon=4)

    for forecast in result.series.values():
        for values in (forecast.point, forecast.lo80, forecast.hi80, forecast.lo95, forecast.hi95):
            assert min(values) >= 0


def test_backtest_never_reads_weeks_after_an_origin() -> None:
    weekly = poisson_panel(40, 36, seed=9)
    report = backtest(weekly, origins=4, horizon=4, min_history=16)
    # Changing the last week may only change what the last origin is scored on, not the choices before.
    changed = weekly.copy()
    changed.loc[changed["ds"] == changed["ds"].max(), "y"] *= 10
    again = backtest(changed, origins=4, horizon=4, min_history=16)

    assert report.selection == again.selection


def test_empty_panel_gives_an_empty_result() -> None:
    empty = pd.DataFrame({"unique_id": [], "ds": pd.to_datetime([]), "y": []})

    result = forecast_series(empty, horizon=4)

    assert result.series == {} and result.last_week is None
