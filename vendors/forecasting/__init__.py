"""Weekly demand forecasting for the vendor portal. Plain Python over pandas and statsforecast, no Django.

    from vendors.forecasting import weekly_panel, forecast_series, backtest

    weekly = weekly_panel(lines, last_week=date(2011, 11, 28))   # lines: unique_id, day, units
    result = forecast_series(weekly, horizon=8)                  # ForecastResult: per series SeriesForecast
    report = backtest(weekly, origins=8, horizon=4)              # BacktestReport: every method + selection

Candidates (`methods`): naive, 4-week average, AutoETS, 52-week seasonal naive (only where a full season
exists), Croston, Croston SBA, ADIDA, IMAPA, TSB and two combinations (mean and median of six methods).
How a method is chosen per series and how the intervals are calibrated: `engine`, and docs/forecasting.md.
"""

from .backtest import BacktestReport, MethodScore, backtest, format_table
from .forecast import ForecastResult, SeriesForecast, forecast_series
from .panel import last_full_week, weekly_panel

__all__ = [
    "BacktestReport",
    "ForecastResult",
    "MethodScore",
    "SeriesForecast",
    "backtest",
    "forecast_series",
    "format_table",
    "last_full_week",
    "weekly_panel",
]
