"""The reporting period a vendor page shows: a preset (the last 7/30/90/365 days ending at the rollups'
as-of day) or a custom range, read from the URL so a page, its htmx partials and its CSV downloads all agree.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from django.http import HttpRequest
from django.utils.http import urlencode

PRESET_DAYS = (7, 30, 90, 365)
DEFAULT_DAYS = 30
CUSTOM = "custom"
# A custom range longer than this would read years of SalesFact rows on one request.
MAX_CUSTOM_DAYS = 3 * 366


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive
    preset: str  # "7" | "30" | "90" | "365" | "custom"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def previous(self) -> "Period":
        """The period of the same length that ends the day before this one starts."""
        end = self.start - timedelta(days=1)
        return Period(start=end - timedelta(days=self.days - 1), end=end, preset=self.preset)

    @property
    def year_ago(self) -> "Period":
        """The same calendar dates a year earlier (29 February falls back to the 28th)."""
        return Period(start=_year_earlier(self.start), end=_year_earlier(self.end), preset=self.preset)

    @property
    def is_preset(self) -> bool:
        return self.preset != CUSTOM

    @property
    def query_params(self) -> dict[str, str]:
        if self.is_preset:
            return {"period": self.preset}
        return {"period": CUSTOM, "start": self.start.isoformat(), "end": self.end.isoformat()}

    @property
    def query_string(self) -> str:
        return urlencode(self.query_params)

    @property
    def label(self) -> str:
        if self.is_preset:
            return f"Last {self.days} days"
        return f"{_day_label(self.start)} \N{EN DASH} {_day_label(self.end)}"

    @property
    def range_label(self) -> str:
        return f"{_day_label(self.start)} \N{EN DASH} {_day_label(self.end)}"


def _day_label(day: date) -> str:
    return f"{day.day} {day:%b %Y}"


def _year_earlier(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


def preset_period(days: int, *, as_of: date) -> Period:
    return Period(start=as_of - timedelta(days=days - 1), end=as_of, preset=str(days))


def _parse_day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def period_from_request(request: HttpRequest, *, as_of: date) -> tuple[Period, list[str]]:
    """The period in the GET parameters, and messages for the reader when they were not usable.

    An unknown preset or an invalid custom range falls back to the last 30 days ending at `as_of`, with a
    message saying why, so a mistyped URL shows the default page instead of an error.
    """
    fallback = preset_period(DEFAULT_DAYS, as_of=as_of)
    value = request.GET.get("period", "")
    if not value:
        return fallback, []
    if value != CUSTOM:
        if value.isdigit() and int(value) in PRESET_DAYS:
            return preset_period(int(value), as_of=as_of), []
        return fallback, [f"Unknown period “{value[:20]}”; showing the last {DEFAULT_DAYS} days."]
    start, end = _parse_day(request.GET.get("start")), _parse_day(request.GET.get("end"))
    errors = []
    if start is None:
        errors.append("The custom range needs a valid start date (YYYY-MM-DD).")
    if end is None:
        errors.append("The custom range needs a valid end date (YYYY-MM-DD).")
    if start and end:
        if start > end:
            errors.append("The start date of the custom range is after its end date.")
        elif (end - start).days + 1 > MAX_CUSTOM_DAYS:
            errors.append(f"A custom range can span at most {MAX_CUSTOM_DAYS} days.")
    if errors:
        return fallback, [*errors, f"Showing the last {DEFAULT_DAYS} days instead."]
    return Period(start=start, end=end, preset=CUSTOM), []
