"""Every model plus the hybrid on protocols A and B, with training time and peak memory (see
evaluation.py)."""

from typing import Any

from recommendations.ml.base import Recommender
from recommendations.ml.calibration import format_reliability
from recommendations.ml.data import TrainingData
from recommendations.ml.evaluation import (
    calibration_metrics,
    completion_metrics,
    next_basket_metrics,
    ranked_lists,
    split_last_basket,
)
from recommendations.ml.hybrid import HybridRecommender
from recommendations.ml.popularity import OwnTopModel
from recommendations.ml.profiling import measure
from recommendations.ml.sections import sections_report

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
)


def _row(name: str, scorer: Any, product_ids: Any, holdout: Any, stats: dict[str, float]) -> dict[str, Any]:
    ranked = ranked_lists(scorer, product_ids, holdout.retailers, 20)
    metrics = next_basket_metrics(ranked, holdout, len(product_ids)) | completion_metrics(
        scorer, product_ids, holdout
    )
    return {"name": name, "metrics": {k: round(v, 4) for k, v in metrics.items()}} | stats


def leaderboard(
    data: TrainingData, *, hybrid_params: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    train, test = split_last_basket(data)
    hybrid, seconds, peak = measure(lambda: HybridRecommender(params=hybrid_params).fit(train))
    rows = []
    baselines: dict[str, Recommender] = {
        "own_top_readme": OwnTopModel(tie_break="code"),
        "own_top": OwnTopModel(tie_break="popularity"),
    }
    for name, model in baselines.items():
        fitted, model_seconds, model_peak = measure(lambda model=model: model.fit(train))
        stats = {"train_seconds": round(model_seconds, 2), "peak_memory_mb": round(model_peak, 1)}
        rows.append(_row(name, fitted.score, fitted.product_ids, test, stats | {"baseline": True}))
    for name, model in hybrid.models.items():
        stats = dict(hybrid.fit_stats[name]) | {
            "blend_weight": hybrid.weights.get(name, 0.0),
            "validation": hybrid.validation.get(name, {}),
        }
        rows.append(_row(name, model.score, model.product_ids, test, stats))
    hybrid_stats = {
        "train_seconds": round(seconds, 2),
        "peak_memory_mb": round(peak, 1),
        "validation": hybrid.validation.get("hybrid", {}),
        "reranker": hybrid.reranker is not None,
    }
    rows.append(_row("hybrid", hybrid.score, hybrid.product_ids, test, hybrid_stats))
    return {
        "protocol": PROTOCOL,
        "retailers": int(data.view.n_retailers),
        "orders": len(data.view.orders),
        "products": int(data.view.n_products),
        "test_baskets": len(test.retailers),
        "hybrid_weights": hybrid.weights,
        "validation_best_single": getattr(hybrid, "validation_best_single", ""),
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
        cells.append(f"{row.get('validation', {}).get('ndcg@10', float('nan')):.3f}")
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
