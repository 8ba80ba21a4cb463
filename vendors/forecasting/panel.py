"""Weekly demand panels: raw sales lines summed per ISO week, zero-filled from each series' first sale."""

from datetime import date, timedelta

import numpy as np
import pandas as pd

PANEL_COLUMNS = ["unique_id", "ds", "y"]


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def last_full_week(last_day: date) -> date:
    """The Monday of the last complete week ending on or before `last_day` (a week ends on Sunday)."""
    monday = monday_of(last_day)
    return monday if last_day.weekday() == 6 else monday - timedelta(days=7)


def weekly_panel(lines: pd.DataFrame, *, last_week: date) -> pd.DataFrame:
    """Weekly units per series: columns unique_id (str), ds (Monday, datetime64[ns]), y (float).

    Every week from a series' first sale up to `last_week` is present, weeks without a sale as 0: the
    intermittent models and the errors need the zeros, and a series only exists from its first sale on.
    Sales after `last_week` (e.g. the current, partial week) are dropped.
    """
    if lines.empty:
        return pd.DataFrame(
            {
                "unique_id": pd.Series(dtype=str),
                "ds": pd.Series(dtype="datetime64[ns]"),
                "y": pd.Series(dtype=float),
            }
        )
    days = pd.to_datetime(lines["day"]).dt.tz_localize(None).dt.normalize()
    weeks = (days - pd.to_timedelta(days.dt.weekday, unit="D")).astype("datetime64[ns]")
    end = pd.Timestamp(monday_of(last_week))
    sales = pd.DataFrame(
        {"unique_id": lines["unique_id"].astype(str), "ds": weeks, "y": lines["units"].astype(float)}
    )
    sales = sales[sales["ds"] <= end]
    summed = sales.groupby(["unique_id", "ds"], sort=True)["y"].sum()
    return zero_filled(summed, end)


def zero_filled(summed: pd.Series, end: pd.Timestamp) -> pd.DataFrame:
    """Weekly totals indexed by (unique_id, ds) as a panel with every week from each first one to `end`."""
    firsts = summed.reset_index().groupby("unique_id")["ds"].min()
    lengths = ((end - firsts).dt.days // 7 + 1).to_numpy()
    ids = np.repeat(firsts.index.to_numpy(), lengths)
    offsets = np.concatenate([np.arange(n) for n in lengths]) if len(lengths) else np.array([], dtype=int)
    ds = np.repeat(firsts.to_numpy(), lengths) + pd.to_timedelta(offsets * 7, unit="D").to_numpy()
    grid = pd.MultiIndex.from_arrays([ids, ds], names=["unique_id", "ds"])
    panel = summed.reindex(grid, fill_value=0.0).reset_index()
    panel["ds"] = panel["ds"].astype("datetime64[ns]")
    panel["y"] = panel["y"].astype(float)
    return panel[PANEL_COLUMNS]
