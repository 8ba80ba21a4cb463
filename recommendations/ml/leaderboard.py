"""Every model plus the hybrid on protocols A and B, with training time and peak memory (see
evaluation.py)."""

import math
from typing import Any

import numpy as np

from recommendations.ml.base import Recommender
from recommendations.ml.calibration import format_reliability
from recommendations.ml.data import TrainingData
from recommendations.ml.evaluation import (
    COMPLETION_K,
    PAIRED_METRICS,
    Holdout,
    calibration_metrics,
    completion_hits,
    next_basket_metrics,
    per_retailer_metrics,
    ranked_lists,
    split_last_basket,
)
from recommendations.ml.hybrid import HybridRecommender
from recommendations.ml.popularity import OwnTopModel
from recommendations.ml.profiling import measure
from recommendations.ml.sections import sections_report
from recommendations.ml.significance import paired_bootstrap

# The metric that names the best baseline the intervals are measured against.
MAIN_METRIC = "ndcg@10"
# The single completion scorers the hybrid's completion is compared with, case by case, on test.
COMPLETION_BASELINES = ("association", "popularity")
INTERVAL_RESAMPLES = 1000
INTERVAL_SEED = 0

PROTOCOL = (
    "Protocol A (next basket): for every retailer with >= 2 orders the chronologically last order is "
    "the test "
    "basket, scored against its distinct products; models are trained on all other orders. "
    "Hyper-parameters and "
    "blend weights are chosen on the second-to-last order (validation) with models trained on the "
    "orders before "
    "it, then every model is refitted on all orders but the test ones. Protocol B (basket completion): one "
    "product (seeded random) of each test basket with >= 2 products is hidden, the rest is the "
    "current basket."
    " Calibration: the hybrid's probabilities (isotonic or Platt scaling fitted on the validation baskets "
    'only) of every product in each retailer\'s top-20 "for you" and "new for you" lists against its '
    "test basket; reliability in 10 equal-width bins, ECE = count-weighted mean |predicted - observed|."
    " The hybrid completes a basket with its own weights (association confidence, lift, item-embedding "
    "cosine to the basket, popularity), chosen on completion cases of the validation baskets, never the test "
    "ones."
    " Intervals: 95% paired bootstrap (1,000 resamples of the test retailers, seed 0) of each model's "
    "per-retailer difference to the best single model on test by NDCG@10 (picked on test for reporting "
    "only: no choice of the engine depends on it); for completion, of the hybrid's per-case hit difference "
    "to association and to popularity (1,000 resamples of the test cases, seed 0)."
)


class NothingToEvaluate(ValueError):
    """The data holds no retailer protocol A can score (none has an order before its last one)."""


def _row(
    name: str,
    scorer: Any,
    product_ids: Any,
    holdout: Holdout,
    stats: dict[str, Any],
    completion_scorer: Any = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The model's leaderboard row and its per-retailer PAIRED_METRICS (for the intervals) with its per-case
    completion hits (`completion_hit@k`). `completion_scorer` scores protocol B when it is not `scorer`."""
    ranked = ranked_lists(scorer, product_ids, holdout.retailers, 20)
    hits = completion_hits(completion_scorer or scorer, product_ids, holdout)
    cases = len(hits[COMPLETION_K[0]])
    metrics = next_basket_metrics(ranked, holdout, len(product_ids)) | {
        f"completion_hit@{k}": float(values.mean()) if cases else float("nan") for k, values in hits.items()
    }
    metrics["completion_cases"] = cases
    row = {"name": name, "metrics": {k: round(v, 4) for k, v in metrics.items()}} | stats
    paired = per_retailer_metrics(ranked, holdout) | {f"completion_hit@{k}": v for k, v in hits.items()}
    return row, paired


def _completion_intervals(paired: dict[str, dict[str, np.ndarray]]) -> dict[str, dict[str, Any]]:
    """The hybrid's completion hits minus each COMPLETION_BASELINES model's, per test case, with intervals."""
    out: dict[str, dict[str, Any]] = {}
    for baseline in COMPLETION_BASELINES:
        if baseline not in paired or not len(paired["hybrid"][f"completion_hit@{COMPLETION_K[0]}"]):
            continue
        out[baseline] = {
            f"completion_hit@{k}": paired_bootstrap(
                paired["hybrid"][f"completion_hit@{k}"],
                paired[baseline][f"completion_hit@{k}"],
                resamples=INTERVAL_RESAMPLES,
                seed=INTERVAL_SEED,
            ).to_json()
            for k in COMPLETION_K
        }
    return out


def _add_intervals(rows: list[dict[str, Any]], paired: dict[str, dict[str, np.ndarray]]) -> str:
    """Writes into every row the intervals of its difference to the best single model (the best row by
    MAIN_METRIC other than the hybrid); returns that model's name."""
    best = max((row for row in rows if row["name"] != "hybrid"), key=lambda row: row["metrics"][MAIN_METRIC])
    for row in rows:
        row["vs_best_baseline"] = {
            metric: paired_bootstrap(
                paired[row["name"]][metric],
                paired[best["name"]][metric],
                resamples=INTERVAL_RESAMPLES,
                seed=INTERVAL_SEED,
            ).to_json()
            for metric in PAIRED_METRICS
        }
    return best["name"]


def leaderboard(
    data: TrainingData, *, hybrid_params: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    train, test = split_last_basket(data)
    if not len(test.retailers):
        raise NothingToEvaluate(
            f"nothing to evaluate: none of the {data.view.n_retailers} retailers has 2 or more orders "
            f"({len(data.view.orders)} orders in all). Protocol A holds out each retailer's last order and "
            "needs an earlier one to learn from."
        )
    hybrid, seconds, peak = measure(lambda: HybridRecommender(params=hybrid_params).fit(train))
    rows: list[dict[str, Any]] = []
    paired: dict[str, dict[str, np.ndarray]] = {}

    def add(row: dict[str, Any], per_retailer: dict[str, np.ndarray]) -> None:
        rows.append(row)
        paired[row["name"]] = per_retailer

    baselines: dict[str, Recommender] = {
        "own_top_readme": OwnTopModel(tie_break="code"),
        "own_top": OwnTopModel(tie_break="popularity"),
    }
    for name, model in baselines.items():
        fitted, model_seconds, model_peak = measure(lambda model=model: model.fit(train))
        stats = {"train_seconds": round(model_seconds, 2), "peak_memory_mb": round(model_peak, 1)}
        add(*_row(name, fitted.score, fitted.product_ids, test, stats | {"baseline": True}))
    for name, model in hybrid.models.items():
        stats = dict(hybrid.fit_stats[name]) | {
            "blend_weight": hybrid.weights.get(name, 0.0),
            "validation": hybrid.validation.get(name, {}),
        }
        add(*_row(name, model.score, model.product_ids, test, stats))
    hybrid_stats = {
        "train_seconds": round(seconds, 2),
        "peak_memory_mb": round(peak, 1),
        "validation": hybrid.validation.get("hybrid", {}),
        "reranker": hybrid.reranker is not None,
    }
    add(*_row("hybrid", hybrid.score, hybrid.product_ids, test, hybrid_stats, hybrid.complete))
    best_baseline = _add_intervals(rows, paired)
    return {
        "protocol": PROTOCOL,
        "retailers": int(data.view.n_retailers),
        "orders": len(data.view.orders),
        "products": int(data.view.n_products),
        "test_baskets": len(test.retailers),
        "hybrid_weights": hybrid.weights,
        "completion_weights": hybrid.completion_weights,
        "completion_vs": _completion_intervals(paired),
        "validation_best_single": hybrid.validation_best_single,
        # What the significance gate decided on validation (intervals of gains over the best single model).
        "selection": {
            step: hybrid.validation[step]
            for step in ("blend", "reranker", "completion")
            if "accepted" in hybrid.validation.get(step, {})
        },
        "best_baseline": {"name": best_baseline, "metric": MAIN_METRIC},
        "models": rows,
        "calibration": calibration_metrics(hybrid, test)
        | {"calibrators": {name: c.method for name, c in hybrid.calibrators.items()}},
        # The dashboard's lists of the test retailers, with the MMR lam fixed beforehand on validation.
        "diversity_lambdas": hybrid.diversity,
        "sections": sections_report(hybrid, test, as_of=train.view.cutoff.date()),
    }


def format_table(board: dict[str, Any]) -> str:
    columns = [
        "hit@10",
        "precision@10",
        "recall@10",
        "ndcg@10",
        "recall@20",
        "ndcg@20",
        "coverage@10",
        "recall@10_repeat",
        "recall@10_explore",
        "ndcg@10_repeat",
        "ndcg@10_explore",
        "completion_hit@1",
        "completion_hit@3",
        "completion_hit@10",
    ]
    header = ["model", *columns, "val ndcg@10", "weight", "train s", "peak MiB"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in board["models"]:
        metrics = row["metrics"]
        cells = [row["name"], *(f"{metrics.get(c, 0):.3f}" for c in columns)]
        validated = row.get("validation", {}).get("ndcg@10")
        cells.append("" if validated is None else f"{validated:.3f}")
        cells.append("baseline" if row.get("baseline") else f"{row.get('blend_weight', '')}")
        cells += [f"{row['train_seconds']:.1f}", f"{row['peak_memory_mb']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_calibration(board: dict[str, Any]) -> str:
    calibration = board["calibration"]
    return "\n\n".join(
        format_reliability(f'"{surface}" probabilities on the test baskets', calibration[surface])
        for surface in ("for_you", "new_for_you")
    )


def _interval_text(gain: dict[str, float], digits: int) -> str:
    return f"{gain['mean']:+.{digits}f} [{gain['low']:+.{digits}f}, {gain['high']:+.{digits}f}]"


def format_intervals(board: dict[str, Any]) -> str:
    """Each model's difference to the best baseline on test, with its 95% paired-bootstrap interval."""
    best = board["best_baseline"]["name"]
    header = ["model"]
    for metric in PAIRED_METRICS:
        header += [metric, f"{metric} - {best} [95%]"]
    lines = [
        f"Difference to the best single model on test ({best}, by {board['best_baseline']['metric']}), "
        "95% paired bootstrap over test retailers:",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for row in board["models"]:
        cells = [row["name"]]
        for metric in PAIRED_METRICS:
            gain = row["vs_best_baseline"][metric]
            cells += [
                f"{row['metrics'][metric]:.3f}",
                _interval_text(gain, 3),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_selection(board: dict[str, Any]) -> str:
    """One line per decision of the significance gate on validation."""
    # What serves when a step is refused: the best single model instead of a blend, what the re-ranker was
    # tried over (the blend if it was kept, else the best single model) instead of a re-ranker, the best
    # single completion scorer instead of completion's blend.
    best = board["validation_best_single"]
    blend_kept = board["selection"].get("blend", {}).get("accepted", False)
    fallback = {"blend": best, "reranker": "the blend" if blend_kept else best}
    lines = []
    for step, decision in board["selection"].items():
        gain = decision.get("gain_over_best_single")
        shown = "not measured" if gain is None else _interval_text(gain, 4)
        verdict = (
            "kept" if decision["accepted"] else f"refused, {fallback.get(step, decision['against'])} serves"
        )
        why = f" ({decision['why']})" if decision.get("why") else ""
        units = "validation completion cases" if step == "completion" else "validation retailers"
        lines.append(
            f"Validation gate, {step}: NDCG@10 gain over {decision['against']} {shown} (95% paired bootstrap "
            f"over {units}, out of fold) -> {verdict}{why}"
        )
    return "\n".join(lines)


def format_completion(board: dict[str, Any]) -> str:
    """The hybrid's completion weights and its hits' differences to association and popularity on test."""
    weights = ", ".join(f"{name} {weight:g}" for name, weight in board["completion_weights"].items())
    lines = [f"Completion weights (chosen on validation completion cases): {weights or 'none'}"]
    if board["completion_vs"]:
        header = ["hybrid minus", *(f"completion_hit@{k} [95%]" for k in COMPLETION_K)]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for baseline, gains in board["completion_vs"].items():
            cells = [baseline, *(_interval_text(gains[f"completion_hit@{k}"], 3) for k in COMPLETION_K)]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def finite_json(value: Any) -> Any:
    """`value` with every NaN or infinity replaced by None (JSON null: undefined), numpy scalars as Python
    numbers, tuples as lists: what `json.dumps(..., allow_nan=False)` accepts."""
    if isinstance(value, dict):
        return {key: finite_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite_json(item) for item in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return value
