"""Value objects handed from the ML core to its users (pipeline, portal, API)."""

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Reason:
    kind: str
    weight: float
    facts: dict[str, int | float | str]


@dataclass(frozen=True)
class RankingFeature:
    """One input of the re-ranker's score of a (retailer, product): its value in that row and its share of the
    trees' log-odds (recommendations/ml/reranker.py, `Reranker.contributions`)."""

    name: str
    value: float
    contribution: float


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
    # Where the re-ranker ordered this product: the features that moved its score most, largest share first
    # (empty where the blend ranks: a cold retailer, a live basket, no re-ranker kept).
    ranking: tuple[RankingFeature, ...] = ()


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
