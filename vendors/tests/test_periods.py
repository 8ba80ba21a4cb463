from datetime import date

import pytest
from django.test import RequestFactory

from vendors.periods import Period, period_from_request, preset_period

AS_OF = date(2024, 3, 31)


def parse(**params: str) -> tuple[Period, list[str]]:
    return period_from_request(RequestFactory().get("/vendor/", params), as_of=AS_OF)


def test_without_parameters_the_period_is_the_30_days_ending_at_as_of() -> None:
    period, errors = parse()

    assert (period.start, period.end, period.preset, period.days) == (date(2024, 3, 2), AS_OF, "30", 30)
    assert errors == []
    assert period.query_string == "period=30"
    assert period.label == "Last 30 days"


@pytest.mark.parametrize("days", [7, 30, 90, 365])
def test_presets_end_at_as_of(days: int) -> None:
    period, errors = parse(period=str(days))

    assert period == preset_period(days, as_of=AS_OF)
    assert period.days == days and period.end == AS_OF and not errors


def test_the_previous_period_has_the_same_length_just_before() -> None:
    period = Period(start=date(2024, 3, 1), end=date(2024, 3, 31), preset="custom")

    assert period.previous == Period(start=date(2024, 1, 30), end=date(2024, 2, 29), preset="custom")
    assert period.previous.days == 31


def test_a_year_earlier_keeps_the_dates_and_moves_29_february_to_the_28th() -> None:
    period = Period(start=date(2024, 2, 29), end=date(2024, 3, 10), preset="custom")

    assert period.year_ago == Period(start=date(2023, 2, 28), end=date(2023, 3, 10), preset="custom")


def test_a_custom_range_is_kept_in_the_query_string() -> None:
    period, errors = parse(period="custom", start="2024-01-05", end="2024-02-04")

    assert (period.start, period.end, period.preset, period.days) == (
        date(2024, 1, 5),
        date(2024, 2, 4),
        "custom",
        31,
    )
    assert errors == []
    assert period.query_string == "period=custom&start=2024-01-05&end=2024-02-04"
    assert period.label == "5 Jan 2024 \N{EN DASH} 4 Feb 2024"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"period": "custom", "start": "2024-03-10", "end": "2024-03-01"}, "after its end date"),
        ({"period": "custom", "start": "2024-02-30", "end": "2024-03-01"}, "valid start date"),
        ({"period": "custom", "start": "2024-01-01"}, "valid end date"),
        ({"period": "custom", "start": "2015-01-01", "end": "2024-03-01"}, "at most"),
        ({"period": "14"}, "Unknown period"),
        ({"period": "<script>"}, "Unknown period"),
    ],
)
def test_an_invalid_period_falls_back_to_the_last_30_days_with_a_message(params: dict, message: str) -> None:
    period, errors = parse(**params)

    assert period == preset_period(30, as_of=AS_OF)
    assert any(message in error for error in errors)
