import numpy as np
import pytest

from recommendations.ml.significance import Interval, paired_bootstrap


def test_a_constant_difference_has_an_interval_of_exactly_that_difference() -> None:
    baseline = np.random.default_rng(1).random(200)

    gain = paired_bootstrap(baseline + 0.05, baseline, resamples=200, seed=0)

    assert gain.mean == pytest.approx(0.05)
    assert gain.low == pytest.approx(0.05) and gain.high == pytest.approx(0.05)
    assert gain.positive and gain.units == 200 and gain.resamples == 200


def test_the_interval_matches_the_normal_theory_interval_of_a_mean_difference() -> None:
    # 5,000 paired units drawn with a true gain of 0.02 and a standard deviation of 0.3 per unit: the 95%
    # interval of the mean is the sample mean +- 1.96 * s / sqrt(n) (central limit theorem), ~ +-0.0083.
    rng = np.random.default_rng(7)
    baseline = rng.random(5000)
    candidate = baseline + rng.normal(0.02, 0.3, size=5000)
    difference = candidate - baseline
    half_width = 1.96 * difference.std(ddof=1) / np.sqrt(len(difference))

    gain = paired_bootstrap(candidate, baseline, resamples=1000, seed=0)

    assert gain.mean == pytest.approx(difference.mean())
    assert gain.low == pytest.approx(difference.mean() - half_width, abs=0.1 * half_width)
    assert gain.high == pytest.approx(difference.mean() + half_width, abs=0.1 * half_width)
    assert gain.low < 0.02 < gain.high


def test_gains_and_losses_that_cancel_out_give_an_interval_around_zero_that_is_not_positive() -> None:
    # Half the units gain 0.1 and the other half lose 0.1: a mean gain of exactly zero.
    b = np.random.default_rng(3).random(300)
    a = b + np.tile([0.1, -0.1], 150)

    gain = paired_bootstrap(a, b, resamples=1000, seed=0)

    assert gain.mean == pytest.approx(0, abs=1e-12)
    assert gain.low < 0 < gain.high
    assert not gain.positive


def test_the_same_seed_gives_the_same_interval_and_swapping_the_models_mirrors_it() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.random(100), rng.random(100)

    gain = paired_bootstrap(a, b, resamples=500, seed=4)

    assert paired_bootstrap(a, b, resamples=500, seed=4) == gain
    mirrored = paired_bootstrap(b, a, resamples=500, seed=4)
    assert mirrored.mean == pytest.approx(-gain.mean)
    assert mirrored.low == pytest.approx(-gain.high) and mirrored.high == pytest.approx(-gain.low)


def test_the_interval_is_written_as_plain_rounded_numbers() -> None:
    gain = Interval(mean=0.012345, low=-0.001, high=0.02567, level=0.95, units=10, resamples=1000)

    assert gain.to_json() == {
        "mean": 0.0123,
        "low": -0.001,
        "high": 0.0257,
        "level": 0.95,
        "units": 10,
        "resamples": 1000,
    }
    assert str(gain) == "+0.012 [-0.001, +0.026]"


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        ([0.1, 0.2], [0.1], "equal length"),
        ([], [], "no paired units"),
        ([0.1, float("nan")], [0.1, 0.2], "finite"),
        ([0.1, float("inf")], [0.1, 0.2], "finite"),
    ],
)
def test_scores_that_cannot_be_paired_are_refused_with_a_clear_error(
    a: list[float], b: list[float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        paired_bootstrap(np.array(a), np.array(b))
