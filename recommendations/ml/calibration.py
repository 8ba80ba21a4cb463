"""Calibrated probabilities: the chance that a retailer orders a product in its next order, given the ranker's
score, fitted on validation baskets only; and the reliability table / expected calibration error that measure
such probabilities on held-out baskets.

A calibrator is stored as the knots of a monotone piecewise-linear map (score -> probability), which is
exactly how scikit-learn's isotonic regression predicts; Platt scaling is sampled onto the same knots. So a
saved model needs no pickle and predicting is one `np.interp`.
"""

from dataclasses import dataclass
from typing import Any, Self

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

# Isotonic regression follows the data step by step; below these sizes its top steps rest on a handful of
# baskets (a "100%" from three hits), so the two-parameter sigmoid (Platt) is the safer fit.
ISOTONIC_MIN_PAIRS = 1000
ISOTONIC_MIN_POSITIVES = 50
PLATT_KNOTS = 101
RELIABILITY_BINS = 10


@dataclass(frozen=True)
class Calibrator:
    knots: np.ndarray  # increasing scores
    probabilities: np.ndarray  # non-decreasing, in [0, 1]
    method: str
    pairs: int
    positives: int

    @classmethod
    def fit(cls, scores: np.ndarray, labels: np.ndarray) -> Self:
        """Fit on (score, was it in the next basket) pairs; needs at least one pair."""
        scores = np.asarray(scores, dtype="float64").ravel()
        labels = np.asarray(labels, dtype="float64").ravel()
        positives = int(labels.sum())
        if len(scores) >= ISOTONIC_MIN_PAIRS and positives >= ISOTONIC_MIN_POSITIVES:
            isotonic = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, labels)
            knots, probabilities, method = isotonic.X_thresholds_, isotonic.y_thresholds_, "isotonic"
        elif 0 < positives < len(labels):
            platt = LogisticRegression().fit(scores[:, None], labels)
            knots = np.linspace(scores.min(), scores.max(), PLATT_KNOTS)
            probabilities, method = platt.predict_proba(knots[:, None])[:, 1], "platt"
        else:
            # All pairs agree (typically: nobody ever bought a new product): the observed rate is the answer.
            knots, probabilities, method = np.array([0.0]), np.array([labels.mean()]), "constant"
        knots, probabilities = np.asarray(knots, "float64"), np.asarray(probabilities, "float64")
        return cls(knots, probabilities, method, len(labels), positives)

    def predict(self, scores: np.ndarray) -> np.ndarray:
        """Probabilities for scores of the same scale; outside the fitted range the end values hold."""
        return np.interp(np.asarray(scores, dtype="float64"), self.knots, self.probabilities)

    def to_json(self) -> dict[str, Any]:
        return {
            "knots": self.knots.tolist(),
            "probabilities": self.probabilities.tolist(),
            "method": self.method,
            "pairs": self.pairs,
            "positives": self.positives,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Self:
        return cls(
            np.asarray(value["knots"], "float64"),
            np.asarray(value["probabilities"], "float64"),
            value["method"],
            int(value["pairs"]),
            int(value["positives"]),
        )


def reliability(
    probabilities: np.ndarray, labels: np.ndarray, *, bins: int = RELIABILITY_BINS
) -> dict[str, Any]:
    """Equal-width bins of predicted probability: predicted mean vs observed rate and count per bin, and the
    expected calibration error (the count-weighted mean of |predicted - observed| over the bins)."""
    probabilities = np.asarray(probabilities, dtype="float64").ravel()
    labels = np.asarray(labels, dtype="float64").ravel()
    index = np.clip((probabilities * bins).astype("int64"), 0, bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        inside = index == b
        count = int(inside.sum())
        if not count:
            continue
        predicted, observed = float(probabilities[inside].mean()), float(labels[inside].mean())
        ece += count / len(labels) * abs(predicted - observed)
        rows.append(
            {
                "bin": f"{b / bins:.1f}-{(b + 1) / bins:.1f}",
                "predicted": round(predicted, 4),
                "observed": round(observed, 4),
                "count": count,
            }
        )
    return {
        "pairs": len(labels),
        "mean_predicted": round(float(probabilities.mean()), 4) if len(labels) else 0.0,
        "observed_rate": round(float(labels.mean()), 4) if len(labels) else 0.0,
        "ece": round(ece, 4),
        "bins": rows,
    }


def format_reliability(name: str, table: dict[str, Any]) -> str:
    lines = [
        f"{name}: ECE {table['ece']:.4f} over {table['pairs']:,} shown (retailer, product) pairs; "
        f"mean predicted {table['mean_predicted']:.4f}, observed rate {table['observed_rate']:.4f}",
        "| predicted bin | predicted mean | observed rate | count |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {row['bin']} | {row['predicted']:.3f} | {row['observed']:.3f} | {row['count']:,} |"
        for row in table["bins"]
    ]
    return "\n".join(lines)
