"""Value objects handed from the ML core to its users (pipeline, portal, API)."""

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Reason:
    kind: str
    weight: float
    facts: dict[str, int | float | str]


@dataclass(frozen=True)
class Recommendation:
    retailer: int | None
    product: int
    rank: int
    score: float
    reasons: tuple[Reason, ...]
    # P(the retailer orders it in its next order), calibrated on validation baskets; None where no calibrator
    # applies (a live basket's completion).
    probability: float | None = None


@dataclass(frozen=True)
class DuePrediction:
    retailer: int
    product: int
    expected_date: date
    confidence: float
    cadence_days: float
    last_ordered: date
    suggested_quantity: int
    times_ordered: int
