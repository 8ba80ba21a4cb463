"""A retailer's lists laid out together, so each product is shown once, in the list that fits it best.

Due products belong to "due for reorder"; "for you" is filled with other products; "new for you" (products
never bought) leaves out what "for you" shows. "For you" and "new for you" are diversified with MMR at the
lam chosen for each on the validation baskets (diversity.py). One layout serves the precompute (the stored
rows), training (choosing lam) and `evaluate` (measuring the result on test baskets).

The model is the hybrid recommender, passed in (this module is imported by it).
"""

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from recommendations.ml.diversity import LAMBDA_GRID, NDCG_TOLERANCE, LambdaTrial, choose_lambda, combined
from recommendations.ml.evaluation import Holdout
from recommendations.ml.metrics import ndcg_at_k, recall_at_k
from recommendations.ml.types import DuePrediction, Recommendation

FOR_YOU = "for_you"
NEW_FOR_YOU = "new_for_you"
# Due predictions kept per retailer, most confident first (the due rows the precompute stores).
DUE_COUNT = 30
# Lists are judged on their top 10, as the accuracy table is.
K = 10


def due_products(
    predictions: Iterable[DuePrediction], *, limit: int = DUE_COUNT, known: Collection[int] | None = None
) -> dict[int, list[int]]:
    """Each retailer's due products as stored: the first `limit` of its predictions (most confident first)
    whose product is `known`."""
    out: dict[int, list[int]] = {}
    for due in predictions:
        if known is not None and due.product not in known:
            continue
        kept = out.setdefault(due.retailer, [])
        if len(kept) < limit:
            kept.append(due.product)
    return out


@dataclass(frozen=True)
class Sections:
    for_you: list[Recommendation]
    new_for_you: list[Recommendation]


def _by_retailer(recommendations: Iterable[Recommendation]) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    for rec in recommendations:
        out.setdefault(int(rec.retailer), set()).add(rec.product)
    return out


def lay_out(
    model: Any,
    retailers: Sequence[int],
    *,
    due: Mapping[int, Collection[int]],
    for_you_count: int,
    new_count: int,
    exclude: Mapping[int, Collection[int]] | None = None,
    diversify: bool = True,
    explain: bool = True,
) -> Sections:
    """ "For you" without the retailer's `due` products, "new for you" without what "for you" shows, neither
    with `exclude` (e.g. just ordered); diversified at the model's lam unless `diversify` is off."""
    retailers = [int(r) for r in retailers]
    held = [set((exclude or {}).get(r, ())) for r in retailers]
    for_you = model.recommend(
        retailers,
        n=for_you_count,
        exclude=[h | set(due.get(r, ())) for r, h in zip(retailers, held, strict=True)],
        mmr_lambda=model.mmr_lambda(FOR_YOU) if diversify else 1.0,
        explain=explain,
    )
    shown = _by_retailer(for_you)
    new = model.new_for(
        retailers,
        n=new_count,
        exclude=[h | shown.get(r, set()) for r, h in zip(retailers, held, strict=True)],
        mmr_lambda=model.mmr_lambda(NEW_FOR_YOU) if diversify else 1.0,
        explain=explain,
    )
    return Sections(for_you, new)


def _mean_ndcg(lists: Sequence[Sequence[int]], relevant: Sequence[set[int]]) -> float:
    scores = [ndcg_at_k(items, rel, K) for items, rel in zip(lists, relevant, strict=True) if rel]
    return float(np.mean(scores)) if scores else 0.0


def _trials(
    model: Any,
    retailers: np.ndarray,
    relevant: Sequence[set[int]],
    *,
    new: bool,
    exclude: Sequence[Collection[int]],
) -> tuple[list[LambdaTrial], dict[float, list[list[int]]]]:
    blend = model.masked_blend(retailers, new=new, exclude=exclude)
    picks, diversity = model.picks(blend, K, LAMBDA_GRID, measure=True)
    lists = {lam: [model.product_ids[items].tolist() for items in picks[lam]] for lam in LAMBDA_GRID}
    trials = [
        LambdaTrial(lam, _mean_ndcg(lists[lam], relevant), combined(diversity[lam])) for lam in LAMBDA_GRID
    ]
    return trials, lists


def choose_lambdas(model: Any, holdout: Holdout, *, as_of: date) -> dict[str, dict[str, Any]]:
    """lam for "for you" and for "new for you", each by the rule of diversity.choose_lambda on these
    (validation) baskets, with the lists laid out as lay_out lays them out: "for you" against the whole
    basket, "new for you" against its products the retailer had never bought. The retailers must have a
    history (the model ranks them)."""
    retailers, baskets, history = holdout.retailers, holdout.baskets, holdout.history
    due = due_products(model.due(retailers.tolist(), as_of=as_of))
    out: dict[str, dict[str, Any]] = {}
    trials, lists = _trials(
        model, retailers, baskets, new=False, exclude=[due.get(int(r), ()) for r in retailers]
    )
    lam = choose_lambda(trials)
    out[FOR_YOU] = _summary(lam, trials, len(retailers))
    explore = [basket - bought for basket, bought in zip(baskets, history, strict=True)]
    trials, _ = _trials(model, retailers, explore, new=True, exclude=lists[lam])
    out[NEW_FOR_YOU] = _summary(choose_lambda(trials), trials, sum(bool(e) for e in explore))
    return out


def _summary(lam: float, trials: Sequence[LambdaTrial], baskets: int) -> dict[str, Any]:
    return {
        "lambda": lam,
        "rule": f"most diverse lambda with validation ndcg@10 within {NDCG_TOLERANCE:.0%} of lambda=1",
        "validation_baskets": baskets,
        "trials": [
            {"lambda": t.lam, "ndcg@10": round(t.ndcg, 4), "diversity": round(t.diversity, 4)} for t in trials
        ],
    }


# --- Measuring on test baskets (manage.py evaluate).


def _overlap(lists: Sequence[Sequence[int]], others: Sequence[Collection[int]]) -> float:
    """Share of the listed items that are also in the other list of the same retailer."""
    total = sum(len(items) for items in lists)
    shared = sum(len(set(items) & set(other)) for items, other in zip(lists, others, strict=True))
    return shared / total if total else 0.0


def sections_report(model: Any, holdout: Holdout, *, as_of: date) -> dict[str, Any]:
    """The lists of the test retailers before this layout (each list ranked on its own), laid out without
    diversification, and laid out with the lam fixed on validation: accuracy on the test baskets (Recall@10,
    NDCG@10; "new for you" against the products never bought before), intra-list diversity of the top 10
    and the overlap between sections."""
    retailers = [int(r) for r in holdout.retailers]
    due = due_products(model.due(retailers, as_of=as_of))
    due_lists = [due.get(r, []) for r in retailers]
    explore = [basket - bought for basket, bought in zip(holdout.baskets, holdout.history, strict=True)]
    variants = {
        "ranked separately": Sections(
            model.recommend(retailers, n=K, explain=False), model.new_for(retailers, n=K, explain=False)
        ),
        "laid out, lambda=1": lay_out(
            model, retailers, due=due, for_you_count=K, new_count=K, diversify=False, explain=False
        ),
        "laid out + MMR": lay_out(model, retailers, due=due, for_you_count=K, new_count=K, explain=False),
    }
    rows = []
    for name, sections in variants.items():
        for_you, new = _lists(sections.for_you, retailers), _lists(sections.new_for_you, retailers)
        for surface, lists, relevant in ((FOR_YOU, for_you, holdout.baskets), (NEW_FOR_YOU, new, explore)):
            scored = [(items, rel) for items, rel in zip(lists, relevant, strict=True) if rel]
            row = {
                "variant": name,
                "surface": surface,
                "lambda": model.mmr_lambda(surface) if name == "laid out + MMR" else 1.0,
                "recall@10": float(np.mean([recall_at_k(i, r, K) for i, r in scored])) if scored else 0.0,
                "ndcg@10": float(np.mean([ndcg_at_k(i, r, K) for i, r in scored])) if scored else 0.0,
                "scored": len(scored),
                "diversity": model.list_diversity(lists),
            }
            if surface == FOR_YOU:
                row["in_due"] = _overlap(lists, due_lists)
                row["in_new_for_you"] = _overlap(lists, new)
                # What the two sections find together: laid out, the due products moved, not lost.
                row["recall_with_due"] = float(
                    np.mean(
                        [
                            len(basket & (set(items) | set(d))) / len(basket)
                            for items, d, basket in zip(lists, due_lists, holdout.baskets, strict=True)
                            if basket
                        ]
                    )
                )
            rows.append(row)
    return {"retailers": len(retailers), "due_count": DUE_COUNT, "k": K, "rows": rows}


def _lists(recommendations: Iterable[Recommendation], retailers: Sequence[int]) -> list[list[int]]:
    by_retailer: dict[int, list[int]] = {r: [] for r in retailers}
    for rec in recommendations:
        by_retailer[int(rec.retailer)].append(rec.product)
    return [by_retailer[r] for r in retailers]


def format_sections(report: dict[str, Any]) -> str:
    def cell(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    header = [
        "lists",
        "surface",
        "lambda",
        "recall@10",
        "ndcg@10",
        "ILD category",
        "ILD vendor",
        "ILD content",
        "for-you in due",
        "for-you in new",
        "recall due + for-you",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in report["rows"]:
        diversity = row["diversity"]
        cells = [
            row["variant"],
            row["surface"],
            f"{row['lambda']:.1f}",
            cell(row["recall@10"]),
            cell(row["ndcg@10"]),
            cell(diversity["category"]),
            cell(diversity["vendor"]),
            cell(diversity["content"]),
            cell(row.get("in_due")) if row["surface"] == FOR_YOU else "",
            cell(row.get("in_new_for_you")) if row["surface"] == FOR_YOU else "",
            cell(row.get("recall_with_due")) if row["surface"] == FOR_YOU else "",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
