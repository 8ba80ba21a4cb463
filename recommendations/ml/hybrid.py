"""Hybrid recommender: a weighted blend of every model, weights chosen on a validation split, with
evidence."""

import hashlib
from collections.abc import Callable, Collection, Sequence
from datetime import date
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd

from recommendations.ml.artifacts import load_state, save_state
from recommendations.ml.association import AssociationModel
from recommendations.ml.base import Baskets, Recommender, top_n
from recommendations.ml.calibration import Calibrator
from recommendations.ml.completion import SIGNALS, CompletionTables, combine
from recommendations.ml.content import ContentModel
from recommendations.ml.data import TrainingData
from recommendations.ml.diversity import (
    POOL,
    ItemAspects,
    intra_list_diversity,
    mean_diversity,
    mmr,
    pair_similarity,
    relevance,
)
from recommendations.ml.evaluation import Holdout, completion_cases, split_last_basket
from recommendations.ml.factorization import FactorizationModel
from recommendations.ml.neighbours import NeighbourModel
from recommendations.ml.neural import NeuralModel
from recommendations.ml.popularity import PopularityModel
from recommendations.ml.profiling import measure
from recommendations.ml.repeat import RepeatModel
from recommendations.ml.reranker import CANDIDATES, Reranker, candidate_features, feature_names
from recommendations.ml.sections import choose_lambdas
from recommendations.ml.significance import paired_bootstrap
from recommendations.ml.types import DuePrediction, RankingFeature, Reason, Recommendation

MEMBERS: dict[str, type[Recommender]] = {
    model.name: model
    for model in (
        PopularityModel,
        RepeatModel,
        AssociationModel,
        NeighbourModel,
        FactorizationModel,
        ContentModel,
        NeuralModel,
    )
}
WEIGHT_GRID = (0.0, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0)
TUNING_PASSES = 2
TUNING_K = 10
# The smallest mean NDCG@10 step coordinate ascent takes: the search may chase noise, the gate then judges.
TUNING_STEP = 1e-4
GATE_RESAMPLES = 1000
GATE_SEED = 0
# Below this many validation retailers a bootstrap interval means little: the best single model serves.
GATE_MIN_RETAILERS = 10
# When the best single model serves alone, popularity at this weight orders the products it cannot tell apart
# (above all those it scores 0, which would otherwise follow catalogue order and carry no reason). A millionth
# of the model's top score: only scores closer than that are reordered.
TIE_BREAK = 1e-6
# How many of the re-ranker's features a re-ranked recommendation carries (those with the largest shares).
RANKING_FEATURES = 3
# The re-ranker's inputs of the candidates it ordered: (candidates n x C, features n x C x F).
Reranked = tuple[np.ndarray, np.ndarray]


def normalise_rows(scores: np.ndarray) -> np.ndarray:
    """Each retailer's scores divided by its best score, so models on different scales can be blended."""
    scores = np.maximum(np.asarray(scores, dtype="float32"), 0)
    top = scores.max(axis=1, keepdims=True)
    return np.divide(scores, top, out=np.zeros_like(scores), where=top > 0)


def ndcg_per_row(scores: np.ndarray, relevant: np.ndarray, k: int = TUNING_K) -> np.ndarray:
    """NDCG@k of each row of `scores` against the boolean `relevant` matrix (vectorised, for tuning)."""
    k = min(k, scores.shape[1])
    top = top_n(scores, k)
    gains = np.take_along_axis(relevant, top, axis=1).astype("float64")
    discounts = 1 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(discounts)[np.clip(relevant.sum(axis=1), 1, k) - 1]
    return (gains @ discounts) / ideal


def best_single(per_row: dict[str, np.ndarray]) -> str:
    """The model with the best mean per-row NDCG; popularity wins ties (it needs no personal signal)."""
    return max(per_row, key=lambda name: (float(per_row[name].mean()), name == "popularity"))


def masked(scores: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """`scores` with the products a row may not rank (True in `mask`) at -inf."""
    return scores if mask is None else np.where(mask, -np.inf, scores)


def search_weights(
    scores: dict[str, np.ndarray], relevant: np.ndarray, start: str, mask: np.ndarray | None = None
) -> tuple[dict[str, float], np.ndarray]:
    """Coordinate ascent over WEIGHT_GRID on mean NDCG@10 of these rows, from the model `start` alone: a
    weight change is kept when it lifts the mean by more than TUNING_STEP. Products True in `mask` (a
    completion case's basket) are not ranked (-inf in the blend returned). Returns the weights and the blend
    of these rows."""
    weights = {name: float(name == start) for name in scores}
    # A masked product is -inf from the start and stays so whatever finite score is added to it.
    blend = masked(scores[start], mask).copy()
    current = float(ndcg_per_row(blend, relevant).mean())
    for _ in range(TUNING_PASSES):
        for name in scores:
            for value in WEIGHT_GRID:
                if value == weights[name]:
                    continue
                candidate = blend + (value - weights[name]) * scores[name]
                result = float(ndcg_per_row(candidate, relevant).mean())
                if result > current + TUNING_STEP:
                    blend, current, weights[name] = candidate, result, value
    return weights, blend


class HybridRecommender:
    def __init__(
        self,
        *,
        members: Sequence[str] | None = None,
        params: dict[str, dict[str, Any]] | None = None,
        **member_params: dict[str, Any],
    ):
        """`HybridRecommender(neural={"epochs": 2})`: keyword arguments per member, by member name."""
        unknown = set(member_params) - set(MEMBERS)
        if unknown:
            raise ValueError(f"unknown members {sorted(unknown)}; known: {sorted(MEMBERS)}")
        self.member_names = list(members or MEMBERS)
        self.params = (params or {}) | member_params
        self.models: dict[str, Recommender] = {}
        self.weights: dict[str, float] = {}
        # Validation NDCG@10 per model, of the blend and the re-ranker with the significance gate's decisions.
        self.validation: dict[str, dict[str, Any]] = {}
        self.validation_best_single = ""
        self.fit_stats: dict[str, dict[str, float]] = {}
        self.reranker: Reranker | None = None
        # Ranker score -> P(in the next order) per signal: "for_you", "new_for_you", "popular" (cold shops).
        self.calibrators: dict[str, Calibrator] = {}
        # Per surface ("for_you", "new_for_you"): the MMR lam chosen on validation and the trials behind it.
        self.diversity: dict[str, dict[str, Any]] = {}
        self.aspects: ItemAspects | None = None
        # Basket completion's own blend of the signals in ml/completion.py, chosen on validation completion
        # cases (see `_tune_completion`); empty without an association model (completion then uses `score`).
        self.completion_weights: dict[str, float] = {}
        self._completion_tables: CompletionTables | None = None

    def _new(self, name: str) -> Recommender:
        return MEMBERS[name](**self.params.get(name, {}))

    def fit(
        self,
        data: TrainingData,
        *,
        validation: TrainingData | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> Self:
        """Fits members on the training part, picks blend weights on the validation baskets, then refits every
        member on training + validation with those weights (so the final models see the most recent orders).

        Without `validation`, each retailer's last order in `data` is the validation basket. `progress(step,
        steps)` is told after each member fit and the weight tuning (a console or the admin draws it).
        """
        if validation is None:
            train, holdout = split_last_basket(data)
            full = data
        else:
            train = data
            baskets = validation.interactions.groupby("retailer")["product"].agg(set)
            bought = data.interactions.groupby("retailer")["product"].agg(set)
            retailers = baskets.index.to_numpy(dtype="int64")
            holdout = Holdout(retailers, list(baskets), [bought.get(r, set()) for r in retailers])
            full = TrainingData(
                pd.concat([data.interactions, validation.interactions], ignore_index=True),
                data.products.combine_first(validation.products),
                data.retailers.combine_first(validation.retailers),
            )
        members = len(self.member_names)
        steps = 2 * members + 1 if len(holdout.retailers) else members
        done = 0

        def advance() -> None:
            nonlocal done
            done += 1
            if progress:
                progress(done, steps)

        if progress:
            progress(0, steps)
        if len(holdout.retailers):
            tuning_models = {}
            for name in self.member_names:
                tuning_models[name] = self._new(name).fit(train)
                advance()
            self._tune(tuning_models, holdout)
            self._tune_completion(tuning_models, holdout)
            self._choose_diversity(tuning_models, holdout, train)
            advance()
        else:
            self.weights = {name: float(name == "popularity") for name in self.member_names}
            self.completion_weights = {"popularity": 1.0} if "association" in self.member_names else {}
        for name in self.member_names:
            model, seconds, peak = measure(lambda name=name: self._new(name).fit(full))
            self.models[name] = model
            self.fit_stats[name] = {"train_seconds": round(seconds, 2), "peak_memory_mb": round(peak, 1)}
            advance()
        self.aspects = ItemAspects.from_products(full.products, self.product_ids)
        self._completion_tables = None
        return self

    def _choose_diversity(
        self, models: dict[str, Recommender], holdout: Holdout, train: TrainingData
    ) -> None:
        """MMR's lam per surface, chosen on the validation baskets with the models fitted without them.

        The re-ranker is left out of this blend: it was fitted on these very baskets, so its order would make
        every re-ordering look costlier than it is on baskets it has not seen.
        """
        tuning = HybridRecommender(members=self.member_names, params=self.params)
        tuning.models, tuning.weights = models, self.weights
        tuning.aspects = ItemAspects.from_products(train.products, tuning.product_ids)
        # Retailers without a history get popularity lists whatever lam is: lam is chosen on the others.
        warm = np.flatnonzero(~tuning._cold(holdout.retailers))
        holdout = Holdout(
            holdout.retailers[warm], [holdout.baskets[i] for i in warm], [holdout.history[i] for i in warm]
        )
        self.diversity = choose_lambdas(tuning, holdout, as_of=train.view.cutoff.date()) if len(warm) else {}

    def mmr_lambda(self, surface: str) -> float:
        """The lam chosen on validation for `surface`; 1 (the ranker's order) when none was chosen."""
        return float(self.diversity.get(surface, {}).get("lambda", 1.0))

    def _tune(self, models: dict[str, Recommender], holdout: Holdout) -> None:
        """Blend weights by coordinate ascent on validation NDCG@10, kept only if the significance gate says
        the blend's gain over the best single model is real (see `_gate`); otherwise the best single model
        serves alone.

        The gate cannot judge weights on the baskets they were searched on (the search keeps whatever helps
        those retailers by chance), so it judges them out of fold: weights searched on one random half of the
        validation retailers score the other half, and the other way round. Only when that gain's interval
        is above zero are the weights searched again on every validation retailer and served.
        """
        names = list(models)
        any_model = models[names[0]]
        scores = {name: normalise_rows(models[name].score(holdout.retailers)) for name in names}
        relevant = np.zeros((len(holdout.retailers), len(any_model.product_ids)), dtype=bool)
        for i, basket in enumerate(holdout.baskets):
            relevant[i, any_model.product_rows(sorted(basket))] = True
        halves = np.random.default_rng(0).permutation(len(holdout.retailers)) % 2
        single = {name: ndcg_per_row(scores[name], relevant) for name in names}
        best = best_single(single)
        self.validation = {name: {"ndcg@10": round(float(single[name].mean()), 4)} for name in names}
        self.validation_best_single = best

        out_of_fold = np.zeros(len(holdout.retailers))
        for half in (0, 1):
            fit_rows, held_rows = halves == half, halves != half
            if not fit_rows.any() or not held_rows.any():
                break
            part = {name: scores[name][fit_rows] for name in names}
            start = best_single({name: single[name][fit_rows] for name in names})
            weights, _ = search_weights(part, relevant[fit_rows], start)
            held = sum(
                (weight * scores[name][held_rows] for name, weight in weights.items() if weight),
                start=np.zeros(relevant[held_rows].shape, dtype="float32"),
            )
            out_of_fold[held_rows] = ndcg_per_row(held, relevant[held_rows])
        weights = {name: float(name == best) for name in names}
        if best != "popularity" and "popularity" in names:
            weights["popularity"] = TIE_BREAK
        blend = sum(weight * scores[name] for name, weight in weights.items() if weight)
        # The gate measures against what serves when it refuses: the best model with its ties broken.
        fallback = ndcg_per_row(blend, relevant)
        gate = self._gate(out_of_fold, fallback)
        if gate["accepted"]:
            weights, blend = search_weights(scores, relevant, best)
        self.weights = weights
        self.validation["blend"] = {
            "ndcg@10": round(float(ndcg_per_row(blend, relevant).mean()), 4),
            "out_of_fold_ndcg@10": round(float(out_of_fold.mean()), 4),
            "measured_on": "weights searched on one half of the validation retailers, scored on the other",
        } | gate
        served = "blend" if gate["accepted"] and sum(w > 0 for w in weights.values()) > 1 else best
        self.validation["hybrid"] = {"ndcg@10": self.validation["blend"]["ndcg@10"], "serves": served}
        reranked = self._train_reranker(models, scores, blend, relevant, halves, holdout, fallback)
        self.calibrators = self._fit_calibrators(models, scores, blend, relevant, holdout, reranked)

    def _gate(
        self, candidate: np.ndarray, baseline: np.ndarray, against: str | None = None
    ) -> dict[str, Any]:
        """Accepts a candidate ranker only when the 95% paired-bootstrap interval (over validation retailers,
        or completion cases) of its per-unit NDCG@10 gain over the best single model (`against`, by default
        the next basket's) is above zero. Returned as the entries `self.validation` records beside the
        candidate: the interval, the model it was measured against and the decision."""
        against = {"against": against or self.validation_best_single}
        if len(candidate) < GATE_MIN_RETAILERS:
            return against | {
                "gain_over_best_single": None,
                "accepted": False,
                "why": f"fewer than {GATE_MIN_RETAILERS} validation cases to measure a gain on",
            }
        gain = paired_bootstrap(candidate, baseline, resamples=GATE_RESAMPLES, seed=GATE_SEED)
        return against | {"gain_over_best_single": gain.to_json(), "accepted": gain.positive}

    def _tune_completion(self, models: dict[str, Recommender], holdout: Holdout) -> None:
        """Completion's own weights over the signals of ml/completion.py, chosen on validation completion
        cases (protocol B's cases built from the validation baskets: one seeded product hidden, the rest
        given) with the same out-of-fold search and significance gate as the blend: accepted only when the
        gain over the best single completion scorer (association or popularity, by validation NDCG@10 of the
        hidden product) is real; otherwise that scorer serves, popularity breaking its ties."""
        if "association" not in models:
            self.completion_weights = {}
            return
        _, given, hidden = completion_cases(holdout)
        if not given:
            # No validation basket of two products: nothing to choose on, popularity serves.
            self.completion_weights = {"popularity": 1.0}
            self.validation["completion"] = {"cases": 0, "serves": "popularity"}
            return
        tables = CompletionTables.from_models(models["association"], models.get("neural"))
        association = models["association"]
        given_rows = [association.product_rows(items) for items in given]
        _, parts = combine(dict.fromkeys(SIGNALS, 1.0), **tables.signals(given_rows))
        scores = {name: parts[name].astype("float32") for name in SIGNALS}
        relevant = np.zeros((len(given), len(association.product_ids)), dtype=bool)
        mask = np.zeros_like(relevant)
        for i, (rows, item) in enumerate(zip(given_rows, hidden, strict=True)):
            relevant[i, association.product_rows([item])] = True
            mask[i, rows] = True
        single = {
            name: ndcg_per_row(masked(scores[name], mask), relevant) for name in ("association", "popularity")
        }
        best = best_single(single)
        halves = np.random.default_rng(0).permutation(len(given)) % 2
        out_of_fold = np.zeros(len(given))
        for half in (0, 1):
            fit_rows, held_rows = halves == half, halves != half
            if not fit_rows.any() or not held_rows.any():
                break
            start = best_single({name: values[fit_rows] for name, values in single.items()})
            weights, _ = search_weights(
                {name: values[fit_rows] for name, values in scores.items()},
                relevant[fit_rows],
                start,
                mask[fit_rows],
            )
            held = sum(
                (weight * scores[name][held_rows] for name, weight in weights.items() if weight),
                start=np.zeros(relevant[held_rows].shape, dtype="float32"),
            )
            out_of_fold[held_rows] = ndcg_per_row(masked(held, mask[held_rows]), relevant[held_rows])
        weights = {name: float(name == best) for name in SIGNALS}
        if best != "popularity":
            weights["popularity"] = TIE_BREAK
        blend = sum(weight * scores[name] for name, weight in weights.items() if weight)
        fallback = ndcg_per_row(masked(blend, mask), relevant)
        gate = self._gate(out_of_fold, fallback, against=best)
        if gate["accepted"]:
            weights, blend = search_weights(scores, relevant, best, mask)
        self.completion_weights = weights
        served = "blend" if gate["accepted"] and sum(w > 0 for w in weights.values()) > 1 else best
        self.validation["completion"] = {
            "cases": len(given),
            "single": {name: round(float(values.mean()), 4) for name, values in single.items()},
            "ndcg@10": round(float(ndcg_per_row(masked(blend, mask), relevant).mean()), 4),
            "out_of_fold_ndcg@10": round(float(out_of_fold.mean()), 4),
            "measured_on": "weights searched on one half of the validation completion cases, scored on the "
            "other",
            "weights": weights,
            "serves": served,
        } | gate

    def completion_tables(self) -> CompletionTables:
        if self._completion_tables is None:
            self._completion_tables = CompletionTables.from_models(
                self.models["association"], self.models.get("neural")
            )
        return self._completion_tables

    def complete(self, retailers: Sequence[int], baskets: Baskets = None) -> np.ndarray:
        """Scores of products to add to each basket by the completion weights (protocol B's hybrid). The
        retailer plays no part, as in the live answer, which applies the same weights to the basket's
        association rows; without completion weights (no association model) the blend's `score`."""
        if not self.completion_weights:
            return self.score(retailers, baskets)
        baskets = baskets if baskets is not None else [[] for _ in retailers]
        rows = [self.product_rows_of(basket) for basket in baskets]
        score, _ = combine(self.completion_weights, **self.completion_tables().signals(rows))
        return score.astype("float32")

    def completion_serving(self) -> dict[str, Any]:
        """What the live completion needs besides a version's rows: the weights and the order count popularity
        is divided by."""
        if not self.completion_weights:
            return {}
        return {"weights": self.completion_weights, "top_orders": self.completion_tables().top_orders}

    def _train_reranker(
        self,
        models: dict[str, Recommender],
        scores: dict[str, np.ndarray],
        blend: np.ndarray,
        relevant: np.ndarray,
        halves: np.ndarray,
        holdout: Holdout,
        best_single_ndcg: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Trains on one half of the validation retailers and scores the other, in both directions; kept (and
        retrained on all validation retailers) only if those out-of-fold scores pass the significance gate
        against the best single model and beat `blend` on average: what it re-ranks, the accepted blend or
        the best single model when the gate refused the blend. Its features hold every member's score whatever
        `blend` is, so over one model alone it still weighs every signal (on the demo world, where the gate
        refuses the blend, its out-of-fold gain over `repeat` was +0.148 [+0.124, +0.174] NDCG@10).

        When kept, returns the candidates and their out-of-fold re-ranker scores (each half scored by the
        re-ranker fitted on the other), the honest input for calibrating it."""
        if "repeat" not in models or "popularity" not in models:
            return None
        rows = models["repeat"].retailer_rows(holdout.retailers)
        parts = {name: scores[name] for name in models}
        candidates, features = candidate_features(models, parts, blend, rows)
        labels = np.take_along_axis(relevant, candidates, axis=1)
        results = []
        out_of_fold = np.zeros(labels.shape, dtype="float64")
        reranked_ndcg = np.zeros(len(holdout.retailers))
        blend_ndcg = ndcg_per_row(blend, relevant)
        for train_half in (0, 1):
            fit_rows, test_rows = halves == train_half, halves != train_half
            if not labels[fit_rows].any():
                return None
            reranked = Reranker().fit(features[fit_rows], labels[fit_rows]).predict(features[test_rows])
            out_of_fold[test_rows] = reranked
            rescored = self._rerank_scores(blend[test_rows], candidates[test_rows], reranked)
            reranked_ndcg[test_rows] = ndcg_per_row(rescored, relevant[test_rows])
            results.append((reranked_ndcg[test_rows].mean(), blend_ndcg[test_rows].mean()))
        self.reranker_trials = [[float(a), float(b)] for a, b in results]
        gate = self._gate(reranked_ndcg, best_single_ndcg)
        beats_blend = bool(reranked_ndcg.mean() > blend_ndcg.mean())
        gate["accepted"] = bool(gate["accepted"] and beats_blend)
        self.validation["reranker"] = {
            "ndcg@10": round(float(reranked_ndcg.mean()), 4),
            "measured_on": "each half of the validation retailers, by the re-ranker fitted on the other",
            "beats_blend": beats_blend,
        } | gate
        if not gate["accepted"]:
            return None
        self.reranker = Reranker().fit(features, labels)
        self.validation["hybrid"] = {
            "ndcg@10": self.validation["reranker"]["ndcg@10"],
            "serves": "reranker",
            "measured_on": "half of validation retailers not used to fit the re-ranker",
        }
        return candidates, out_of_fold

    def _fit_calibrators(
        self,
        models: dict[str, Recommender],
        scores: dict[str, np.ndarray],
        blend: np.ndarray,
        relevant: np.ndarray,
        holdout: Holdout,
        reranked: tuple[np.ndarray, np.ndarray] | None,
    ) -> dict[str, Calibrator]:
        """One calibrator per ranking signal, fitted on the validation baskets' top candidates of that signal
        (the products a list can show): the final ranker's score for "for you"; the "new for you" blend over
        products the retailer never bought, whose base rate is far lower; popularity for cold retailers."""
        depth = min(CANDIDATES, blend.shape[1])

        def fitted(signal: np.ndarray, allowed: np.ndarray | None = None) -> Calibrator:
            if allowed is not None:
                signal = np.where(allowed, signal, -np.inf)
            top = top_n(signal, depth)
            values = np.take_along_axis(signal, top, axis=1)
            keep = np.isfinite(values)
            return Calibrator.fit(values[keep], np.take_along_axis(relevant, top, axis=1)[keep])

        calibrators: dict[str, Calibrator] = {}
        if reranked is not None:
            candidates, out_of_fold = reranked
            calibrators["for_you"] = Calibrator.fit(
                out_of_fold, np.take_along_axis(relevant, candidates, axis=1)
            )
        else:
            calibrators["for_you"] = fitted(blend)
        weights = self.new_for_weights()
        new_members = [name for name in scores if weights.get(name, 0) > 0]
        if new_members:
            new = sum(weights[name] * scores[name] for name in new_members)
            bought = np.zeros_like(relevant)
            any_model = next(iter(models.values()))
            for i, history in enumerate(holdout.history):
                bought[i, any_model.product_rows(sorted(history))] = True
            calibrators["new_for_you"] = fitted(new, ~bought)
        if "popularity" in scores:
            calibrators["popular"] = fitted(scores["popularity"])
        return calibrators

    @staticmethod
    def _rerank_scores(blend: np.ndarray, candidates: np.ndarray, reranked: np.ndarray) -> np.ndarray:
        """Candidates ordered by the re-ranker above every non-candidate (which keep the blend order)."""
        out = np.array(blend, dtype="float32", copy=True)
        offset = float(np.nanmax(blend, initial=0)) + 1
        np.put_along_axis(out, candidates, offset + reranked.astype("float32"), axis=1)
        return out

    @property
    def product_ids(self) -> np.ndarray:
        return next(iter(self.models.values())).product_ids

    def _member_scores(self, retailers: Sequence[int], baskets: Baskets) -> dict[str, np.ndarray]:
        return {
            name: normalise_rows(self.models[name].score(retailers, baskets))
            for name, weight in self.weights.items()
            if weight > 0
        }

    def _cold(self, retailers: Sequence[int]) -> np.ndarray:
        """Retailers without any order in the training data: they get segment/region/global popularity."""
        return self._cold_rows(self.models["repeat"].retailer_rows(retailers))

    def _cold_rows(self, rows: np.ndarray) -> np.ndarray:
        return (rows < 0) | (self.models["repeat"].orders_total[np.maximum(rows, 0)] == 0)

    def score(self, retailers: Sequence[int], baskets: Baskets = None) -> np.ndarray:
        """Blend of member scores; without a live basket the re-ranker (if kept) orders the top candidates."""
        return self._score_and_signal(retailers, baskets)[0]

    def _score_and_signal(
        self, retailers: Sequence[int], baskets: Baskets
    ) -> tuple[np.ndarray, np.ndarray, Reranked | None]:
        """The ranking scores and the calibrators' input beside them: the ranking score itself, except that a
        re-ranked candidate's signal is its re-ranker score (its ranking score adds an offset that depends on
        the batch); products outside the re-ranked candidates get the lowest signal. Third, where the
        re-ranker ordered the rows, its candidates and their features (a cold retailer's row then ranks by
        popularity, not by them)."""
        with_basket = baskets is not None and any(len(b) for b in baskets)
        reranked_inputs = None
        if self.reranker is None or with_basket:
            parts = self._member_scores(retailers, baskets)
            blend = sum(self.weights[name] * part for name, part in parts.items())
            signal = blend
        else:
            parts = {name: normalise_rows(model.score(retailers)) for name, model in self.models.items()}
            blend = sum(self.weights[name] * parts[name] for name in parts)
            rows = self.models["repeat"].retailer_rows(retailers)
            candidates, features = candidate_features(self.models, parts, blend, rows)
            reranked = self.reranker.predict(features)
            reranked_inputs = (candidates, features)
            blend = self._rerank_scores(blend, candidates, reranked)
            signal = np.zeros(blend.shape, dtype="float64")
            np.put_along_axis(signal, candidates, reranked, axis=1)
        cold = self._cold(retailers)
        if cold.any() and not with_basket:
            popular = normalise_rows(self.models["popularity"].score(np.asarray(retailers)[cold]))
            blend[cold] = popular
            signal = np.array(signal, dtype="float64", copy=True)
            signal[cold] = popular
        return blend, signal, reranked_inputs

    def feature_names(self) -> list[str]:
        """The names of the re-ranker's features, in the order of its columns."""
        return feature_names(self.models)

    def _ranking_features(
        self, reranked: Reranked, rows: np.ndarray, items: list[np.ndarray]
    ) -> list[list[tuple[RankingFeature, ...]]]:
        """For each row's picked product rows `items`: the RANKING_FEATURES features with the largest share
        (by size) of the re-ranker's log-odds for it, or () for a product it did not order (outside the
        candidates) and for the rows of cold retailers (`rows` < 0 or no order: popularity ranks them)."""
        candidates, features = reranked
        names = self.feature_names()
        cold = self._cold_rows(rows)
        picked: list[tuple[int, int, int]] = []
        for i, row_items in enumerate(items):
            if cold[i]:
                continue
            position = {int(item): p for p, item in enumerate(candidates[i])}
            picked += [(i, j, position[int(item)]) for j, item in enumerate(row_items) if item in position]
        out: list[list[tuple[RankingFeature, ...]]] = [[()] * len(row_items) for row_items in items]
        if not picked or self.reranker is None:
            return out
        at = np.array(picked)
        values = features[at[:, 0], at[:, 2]]
        _, shares = self.reranker.contributions(values)
        for (i, j, _), value, share in zip(picked, values, shares, strict=True):
            top = np.argsort(-np.abs(share), kind="stable")[:RANKING_FEATURES]
            out[i][j] = tuple(
                RankingFeature(names[f], round(float(value[f]), 4), round(float(share[f]), 4)) for f in top
            )
        return out

    def _probabilities(
        self, signal: np.ndarray, cold: np.ndarray, calibration: str | None
    ) -> np.ndarray | None:
        """P(in the next order) for every (retailer, product); None when this list has no calibrator (a live
        basket, ad-hoc weights, or a model saved before calibration existed)."""
        calibrator = self.calibrators.get(calibration or "")
        popular = self.calibrators.get("popular")
        if calibrator is None or (cold.any() and popular is None):
            return None
        out = calibrator.predict(signal)
        if cold.any():
            out[cold] = popular.predict(signal[cold])
        return out

    def recommend(
        self,
        retailers: Sequence[int],
        *,
        n: int = 20,
        exclude_bought: bool = False,
        baskets: Baskets = None,
        weights: dict[str, float] | None = None,
        calibration: str | None = None,
        exclude: Sequence[Collection[int]] | None = None,
        mmr_lambda: float = 1.0,
        explain: bool = True,
    ) -> list[Recommendation]:
        """The n best products per retailer, with their reasons (left empty with `explain=False`, for
        measuring) and, where `calibration` names a fitted calibrator ("for_you" by default with the model's
        own weights), the probability that the retailer orders it next. `exclude` holds product ids each
        retailer must not get (shown in another list); `mmr_lambda` < 1 diversifies the list with MMR over
        the ranker's best candidates."""
        if calibration is None and weights is None and not baskets:
            calibration = "for_you"
        weights = weights or self.weights
        retailers = list(retailers)
        cold = self._cold(retailers)
        if cold.any() and cold.sum() < len(retailers) and not baskets:
            # Cold and known retailers use different signals: rank each group on its own, keep the input
            # order.
            ranked = {
                group: self.recommend(
                    [r for r, c in zip(retailers, cold, strict=True) if c == group],
                    n=n,
                    exclude_bought=exclude_bought,
                    weights=weights,
                    calibration=calibration,
                    exclude=None
                    if exclude is None
                    else [e for e, c in zip(exclude, cold, strict=True) if c == group],
                    mmr_lambda=mmr_lambda,
                    explain=explain,
                )
                for group in (True, False)
            }
            return sorted(
                ranked[True] + ranked[False], key=lambda rec: (retailers.index(rec.retailer), rec.rank)
            )
        parts, blend, signal, rows, basket_rows, weights, reranked = self._ranking(
            retailers, baskets=baskets, weights=weights, exclude_bought=exclude_bought, exclude=exclude
        )
        probability = None if baskets else self._probabilities(signal, cold, calibration)
        picked = self.picks(blend, n, (mmr_lambda,))[0][mmr_lambda]
        ranking = (
            self._ranking_features(reranked, rows, picked)
            if explain and reranked is not None
            else [[()] * len(items) for items in picked]
        )
        out: list[Recommendation] = []
        for i, items in enumerate(picked):
            for rank, item in enumerate(items, start=1):
                row = int(rows[i])
                reasons = self._reasons(parts, weights, row, int(item), basket_rows[i], i) if explain else ()
                out.append(
                    Recommendation(
                        retailer=int(retailers[i]),
                        product=int(self.product_ids[item]),
                        rank=rank,
                        score=round(float(blend[i, item]), 6),
                        reasons=reasons,
                        probability=None if probability is None else round(float(probability[i, item]), 4),
                        ranking=ranking[i][rank - 1],
                    )
                )
        return out

    def _ranking(
        self,
        retailers: list[int],
        *,
        baskets: Baskets,
        weights: dict[str, float],
        exclude_bought: bool,
        exclude: Sequence[Collection[int]] | None,
    ) -> tuple[
        dict[str, np.ndarray],
        np.ndarray,
        np.ndarray,
        np.ndarray,
        list[np.ndarray],
        dict[str, float],
        Reranked | None,
    ]:
        """Member parts, the blend and the calibrators' signal of retailers that are all cold or all known,
        with what they may not get (the basket, bought products, `exclude`) at -inf in the blend; last, the
        re-ranker's inputs where it ordered the blend."""
        all_cold = bool(self._cold(retailers).all())
        if all_cold and not baskets:
            weights = {"popularity": 1.0}
        parts = {
            name: normalise_rows(self.models[name].score(retailers, baskets))
            for name, weight in weights.items()
            if weight > 0
        }
        reranked = None
        if weights is self.weights or all_cold:
            blend, signal, reranked = self._score_and_signal(retailers, baskets)
        else:
            blend = sum(weights[name] * part for name, part in parts.items())
            signal = blend
        # The calibrators' input is taken before the masking below writes -inf into the blend.
        signal = signal.copy() if signal is blend else signal
        repeat = self.models["repeat"]
        rows = repeat.retailer_rows(retailers)
        basket_rows = repeat.basket_rows(baskets, len(retailers))
        for i, row in enumerate(rows):
            blend[i, basket_rows[i]] = -np.inf
            if exclude_bought and row >= 0:
                blend[i, repeat.times[row].indices] = -np.inf
            if exclude is not None and len(exclude[i]):
                blend[i, repeat.product_rows(sorted(exclude[i]))] = -np.inf
        return parts, blend, signal, rows, basket_rows, weights, reranked

    def masked_blend(
        self, retailers: Sequence[int], *, new: bool, exclude: Sequence[Collection[int]] | None = None
    ) -> np.ndarray:
        """The scores "for you" (new=False) or "new for you" (new=True) ranks by, of known retailers."""
        weights = self.new_for_weights() if new else self.weights
        return self._ranking(
            list(retailers), baskets=None, weights=weights, exclude_bought=new, exclude=exclude
        )[1]

    def picks(
        self, blend: np.ndarray, n: int, lambdas: Sequence[float], *, measure: bool = False
    ) -> tuple[dict[float, list[np.ndarray]], dict[float, dict[str, float | None]]]:
        """Each row's n product rows for every lam: the best finite scores for lam = 1, an MMR order of the
        best POOL otherwise (their similarities computed once for all lam); with `measure`, also each lam's
        mean intra-list diversity."""
        diversify = any(lam < 1 for lam in lambdas)
        top = top_n(blend, max(n, POOL) if diversify else n)
        pools = [items[np.isfinite(blend[i, items])] for i, items in enumerate(top)]
        lists: dict[float, list[np.ndarray]] = {lam: [] for lam in lambdas}
        if not diversify and not measure:
            return {lam: pools for lam in lambdas}, {}
        per_list: dict[float, list[dict[str, float | None]]] = {lam: [] for lam in lambdas}
        aspects = self._aspects()
        union = np.unique(np.concatenate(pools)) if pools else np.zeros(0, dtype="int64")
        content = self.content_similarity(union)
        for i, pool in enumerate(pools):
            at = np.searchsorted(union, pool)
            pool_content = content[np.ix_(at, at)]
            similarity = pair_similarity(pool_content, pool, aspects)
            scaled = relevance(blend[i, pool])
            for lam in lambdas:
                order = np.arange(min(n, len(pool))) if lam >= 1 else mmr(scaled, similarity, lam=lam, k=n)
                lists[lam].append(pool[order])
                if measure:
                    per_list[lam].append(
                        intra_list_diversity(pool[order], pool_content[np.ix_(order, order)], aspects)
                    )
        return lists, {lam: mean_diversity(per_list[lam]) for lam in lambdas} if measure else {}

    def _aspects(self) -> ItemAspects:
        return self.aspects if self.aspects is not None else ItemAspects.unknown(len(self.product_ids))

    def content_similarity(self, items: np.ndarray) -> np.ndarray:
        """Content cosine between the product rows `items` (k x k), through the content model's `similar`;
        zeros off the diagonal without a content model."""
        out = np.eye(len(items))
        content = self.models.get("content")
        if content is None or not len(items):
            return out
        best, sims = content.similar(items, len(self.product_ids))
        full = np.zeros((len(items), len(self.product_ids)))
        np.put_along_axis(full, best, sims, axis=1)
        out = np.clip(full[:, items], 0, 1)
        np.fill_diagonal(out, 1)
        return out

    def list_diversity(self, lists: Sequence[Sequence[int]]) -> dict[str, float | None]:
        """Mean intra-list diversity (per aspect) of lists of product ids."""
        rows = [self.product_rows_of(items) for items in lists]
        union = np.unique(np.concatenate(rows)) if rows else np.zeros(0, dtype="int64")
        content = self.content_similarity(union)
        per_list = []
        for items in rows:
            at = np.searchsorted(union, items)
            per_list.append(intra_list_diversity(items, content[np.ix_(at, at)], self._aspects()))
        return mean_diversity(per_list)

    def product_rows_of(self, products: Sequence[int]) -> np.ndarray:
        return self.models["repeat"].product_rows(list(products))

    def _reasons(
        self,
        parts: dict[str, np.ndarray],
        weights: dict[str, float],
        row: int,
        item: int,
        basket: np.ndarray,
        i: int,
    ) -> tuple[Reason, ...]:
        evidence: list[tuple[str, float, dict[str, int | float | str]]] = []
        for name, part in parts.items():
            contribution = weights[name] * float(part[i, item])
            if contribution <= 0:
                continue
            model = self.models[name]
            if name == "repeat":
                # A product the retailer never bought scores by the repeat model's popularity padding alone.
                reason = model.reason(row, item) or model.padding_reason(item)
            else:
                facts = model.explain(row, item, basket)
                reason = None if facts is None else (model.kind, facts)
            # A member citing the product itself as its own anchor proves nothing: its evidence is left out.
            if reason is not None and reason[1].get("anchor") != int(self.product_ids[item]):
                evidence.append((reason[0], contribution, reason[1]))
        total = sum(c for _, c, _ in evidence)
        evidence.sort(key=lambda e: -e[1])
        # A share that rounds to 0 (a tie-breaking weight's) explains nothing and is not shown.
        shares = [(kind, round(c / total, 4), facts) for kind, c, facts in evidence]
        return tuple(Reason(kind, share, facts) for kind, share, facts in shares if share > 0)

    def new_for_weights(self) -> dict[str, float]:
        """The blend without the repeat model; the content model gets a floor weight so unsold products
        surface."""
        weights = {name: w for name, w in self.weights.items() if name != "repeat"}
        # Floors only for members this blend has (a hybrid may be built without the content model).
        for name, floor in (("content", 0.2), ("popularity", 0.05)):
            if name in self.member_names:
                weights[name] = max(weights.get(name, 0.0), floor)
        return weights

    def new_for(
        self,
        retailers: Sequence[int],
        *,
        n: int = 20,
        exclude: Sequence[Collection[int]] | None = None,
        mmr_lambda: float = 1.0,
        explain: bool = True,
    ) -> list[Recommendation]:
        """Products the retailer never bought, with the probability calibrated on never-bought products."""
        return self.recommend(
            retailers,
            n=n,
            exclude_bought=True,
            weights=self.new_for_weights(),
            calibration="new_for_you",
            exclude=exclude,
            mmr_lambda=mmr_lambda,
            explain=explain,
        )

    def due(self, retailers: Sequence[int], *, as_of: date) -> list[DuePrediction]:
        return self.models["repeat"].due(retailers, as_of=as_of)

    def bought_together(self, *, min_together: int = 3, top: int = 20) -> pd.DataFrame:
        return self.models["association"].bought_together(min_together=min_together, top=top)

    def similar_products(self, *, top: int = 20) -> pd.DataFrame:
        return self.models["content"].similar_products(top=top)

    def serving_artifacts(self) -> dict[str, np.ndarray]:
        neural = self.models["neural"]
        popularity = self.models["popularity"]
        return {"product_ids": self.product_ids, "popularity": popularity.buyers} | {
            f"neural_{key}": value for key, value in neural.numpy_weights().items()
        }

    def save(self, directory: str | Path) -> str:
        directory = Path(directory)
        digests = [self.models[name].save(directory / "members" / name) for name in self.member_names]
        meta = {
            "member_names": self.member_names,
            "params": self.params,
            "weights": self.weights,
            "validation": self.validation,
            "fit_stats": self.fit_stats,
            "calibrators": {name: calibrator.to_json() for name, calibrator in self.calibrators.items()},
            "diversity": self.diversity,
            "completion_weights": self.completion_weights,
        }
        if self.aspects is not None:
            meta |= {"item_category": self.aspects.category, "item_vendor": self.aspects.vendor}
        if self.reranker is not None:
            meta["reranker"] = self.reranker.to_bytes()
        digests.append(save_state(directory / "hybrid", "hybrid", meta))
        return hashlib.sha256("".join(digests).encode()).hexdigest()

    @classmethod
    def load(cls, directory: str | Path) -> Self:
        directory = Path(directory)
        _, meta = load_state(directory / "hybrid")
        hybrid = cls(members=meta["member_names"], params=meta["params"])
        hybrid.weights = meta["weights"]
        hybrid.validation = meta["validation"]
        hybrid.fit_stats = meta["fit_stats"]
        # A bundle saved before calibration existed has none: its lists then carry no probability.
        hybrid.calibrators = {
            name: Calibrator.from_json(value) for name, value in meta.get("calibrators", {}).items()
        }
        # Artifacts saved before diversification keep the ranker's order (lam = 1, no aspects).
        hybrid.diversity = meta.get("diversity", {})
        # Artifacts saved before completion had its own weights complete with the blend's `score`.
        hybrid.completion_weights = meta.get("completion_weights", {})
        if "item_category" in meta:
            hybrid.aspects = ItemAspects(meta["item_category"], meta["item_vendor"])
        if "reranker" in meta:
            hybrid.reranker = Reranker.from_bytes(meta["reranker"])
        hybrid.models = {
            name: MEMBERS[name].load(directory / "members" / name) for name in hybrid.member_names
        }
        return hybrid
