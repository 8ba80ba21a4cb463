import numpy as np
import pytest

from recommendations.ml.calibration import Calibrator, reliability


def _pairs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores whose true chance of a hit is a known logistic curve of the score."""
    rng = np.random.default_rng(seed)
    scores = rng.uniform(0, 4, n)
    truth = 1 / (1 + np.exp(-(2 * scores - 5)))
    return scores, rng.random(n) < truth


def test_isotonic_probabilities_are_monotone_within_0_and_1_and_calibrated_on_fresh_pairs() -> None:
    calibrator = Calibrator.fit(*_pairs(5000, seed=1))
    scores, labels = _pairs(5000, seed=2)
    probabilities = calibrator.predict(scores)
    assert calibrator.method == "isotonic"
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    ordered = calibrator.predict(np.sort(scores))
    assert (np.diff(ordered) >= 0).all()
    assert reliability(probabilities, labels)["ece"] < 0.03


def test_few_pairs_use_platt_scaling_and_scores_outside_the_fitted_range_keep_the_end_values() -> None:
    scores, labels = _pairs(300, seed=3)
    calibrator = Calibrator.fit(scores, labels)
    assert calibrator.method == "platt"
    low, high = calibrator.predict(np.array([-100.0, 100.0]))
    assert 0 <= low < 0.1 and 0.9 < high <= 1
    assert low == calibrator.predict(np.array([scores.min()]))[0]


def test_pairs_that_never_hit_give_the_observed_rate_of_zero() -> None:
    calibrator = Calibrator.fit(np.linspace(0, 1, 50), np.zeros(50))
    assert calibrator.method == "constant"
    assert calibrator.predict(np.array([0.0, 0.5, 7.0])).tolist() == [0.0, 0.0, 0.0]


def test_a_calibrator_round_trips_through_json() -> None:
    calibrator = Calibrator.fit(*_pairs(2000, seed=4))
    loaded = Calibrator.from_json(calibrator.to_json())
    scores = np.linspace(-1, 5, 200)
    assert (loaded.predict(scores) == calibrator.predict(scores)).all()
    assert (loaded.method, loaded.pairs, loaded.positives) == (
        calibrator.method,
        calibrator.pairs,
        calibrator.positives,
    )


def test_the_reliability_table_and_ece_recompute_by_hand() -> None:
    probabilities = np.array([0.05, 0.05, 0.15, 0.62, 0.68, 0.95])
    labels = np.array([0, 0, 1, 1, 0, 1])
    table = reliability(probabilities, labels)
    assert [(row["bin"], row["count"]) for row in table["bins"]] == [
        ("0.0-0.1", 2),
        ("0.1-0.2", 1),
        ("0.6-0.7", 2),
        ("0.9-1.0", 1),
    ]
    assert table["bins"][2] == {"bin": "0.6-0.7", "predicted": 0.65, "observed": 0.5, "count": 2}
    by_hand = (2 * 0.05 + 1 * 0.85 + 2 * 0.15 + 1 * 0.05) / 6
    assert table["ece"] == pytest.approx(by_hand, abs=1e-4)
    assert table["observed_rate"] == 0.5 and table["pairs"] == 6
