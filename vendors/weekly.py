"""Weekly history followed by a stored forecast: the rows that the overview, a product's page and the
forecasts page show as a chart and as the accessible table beside it."""

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from vendors.models import ProductForecast


@dataclass(frozen=True)
class WeekRow:
    """One Monday week: what was ordered (None after the data ends) and the forecast (None before it)."""

    week: date
    units: int | None
    revenue: Decimal | None = None
    point: float | None = None
    lo80: float | None = None
    hi80: float | None = None
    lo95: float | None = None
    hi95: float | None = None

    @property
    def is_forecast(self) -> bool:
        return self.point is not None


def weeks_with_forecast(
    *,
    first: date,
    weeks: int,
    units_by_week: dict[date, int],
    revenue_by_week: dict[date, Decimal] | None = None,
    forecast: ProductForecast | None,
) -> list[WeekRow]:
    """`weeks` weeks of actual units (and revenue) from `first`, gaps as 0, then the forecast's weeks; a week
    that has both (the forecast of an older run) shows both."""
    rows = {}
    for index in range(weeks):
        week = first + timedelta(weeks=index)
        revenue = None if revenue_by_week is None else revenue_by_week.get(week, Decimal("0.00"))
        rows[week] = WeekRow(week=week, units=int(units_by_week.get(week, 0)), revenue=revenue)
    for point in forecast.weeks if forecast else []:
        week = date.fromisoformat(point["week"])
        actual = rows.get(week)
        rows[week] = WeekRow(
            week=week,
            units=actual.units if actual else None,
            revenue=actual.revenue if actual else None,
            point=point["point"],
            lo80=point["lo80"],
            hi80=point["hi80"],
            lo95=point["lo95"],
            hi95=point["hi95"],
        )
    return [rows[week] for week in sorted(rows)]


def weeks_chart_spec(
    weeks: list[WeekRow], *, units_label: str = "Units ordered", revenue: bool = False
) -> dict:
    """The chart static/js/vendor_charts.js draws: units as bars, revenue as a line on the right axis when
    asked, the forecast and its 80% and 95% bands."""
    has_forecast = any(row.is_forecast for row in weeks)

    def band(low: str, high: str) -> dict | None:
        if not has_forecast:
            return None
        return {"low": [getattr(row, low) for row in weeks], "high": [getattr(row, high) for row in weeks]}

    series = [{"label": units_label, "values": [row.units for row in weeks], "style": "bar", "axis": "left"}]
    if revenue:
        values = [None if row.revenue is None else float(row.revenue) for row in weeks]
        series.append({"label": "Revenue (£)", "values": values, "style": "line", "axis": "right"})
    if has_forecast:
        values = [row.point for row in weeks]
        series.append({"label": "Forecast units", "values": values, "style": "forecast", "axis": "left"})
    return {
        "labels": [row.week.isoformat() for row in weeks],
        "series": series,
        "band80": band("lo80", "hi80"),
        "band95": band("lo95", "hi95"),
        "y_label": "Units",
    }
