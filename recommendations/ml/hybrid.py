"""Hybrid recommender: a weighted blend of every model, weights chosen on a validation split, with
evidence."""

import hashlib
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd

from recommendations.ml.artifacts import load_state, save_state
from recommendations.ml.association import AssociationModel
from recommendations.ml.base import Baskets, Recommender, top_n
from recommendations.ml.calibration import Calibrator
from recommendations.ml.content import ContentModel
from recommendations.ml.data import TrainingData
from recommendations.ml.evaluation import Holdout, split_last_basket
from recommendations.ml.factorization import FactorizationModel
from recommendations.ml.neighbours import NeighbourModel
from recommendations.ml.neural import NeuralModel
from recommendations.ml.popularity import PopularityModel
from recommendations.ml.profiling import measure
from recommendations.ml.repeat import RepeatModel
from recommendations.ml.reranker import CANDIDATES, Reranker, candidate_features
from recommendations.ml.types import DuePrediction, Reason, Recommendation

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
        self.validation: dict[str, dict[str, float]] = {}
        self.fit_stats: dict[str, dict[str, float]] = {}
        self.reranker: Reranker | None = None
        # Ranker score -> P(in the next order) per signal: "for_you", "new_for_you", "popular" (cold shops).
        self.calibrators: dict[str, Calibrator] = {}

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
            advance()
        else:
            self.weights = {name: float(name == "popularity") for name in self.member_names}
        for name in self.member_names:
            model, seconds, peak = measure(lambda name=name: self._new(name).fit(full))
            self.models[name] = model
            self.fit_stats[name] = {"train_seconds": round(seconds, 2), "peak_memory_mb": round(peak, 1)}
            advance()
        return self

    def _tune(self, models: dict[str, Recommender], holdout: Holdout) -> None:
        """Coordinate ascent on validation NDCG@10, starting from the best single model.

        A weight change is kept only if it improves both random halves of the validation retailers: with no
        real
        signal a change helps one half by chance and hurts the other, so the blend stays with the best model.
        """
        names = list(models)
        any_model = models[names[0]]
        scores = {name: normalise_rows(models[name].score(holdout.retailers)) for name in names}
        relevant = np.zeros((len(holdout.retailers), len(any_model.product_ids)), dtype=bool)
        for i, basket in enumerate(holdout.baskets):
            relevant[i, any_model.product_rows(sorted(basket))] = True
        halves = np.random.default_rng(0).permutation(len(holdout.retailers)) % 2

        def evaluate(blend: np.ndarray) -> tuple[float, float, float]:
            per_row = ndcg_per_row(blend, relevant)
            return (
                float(per_row.mean()),
                float(per_row[halves == 0].mean()),
                float(per_row[halves == 1].mean()),
            )

        single = {name: evaluate(scores[name]) for name in names}
        best = max(names, key=lambda name: (single[name][0], name == "popularity"))
        weights = {name: float(name == best) for name in names}
        blend = scores[best].copy()
        current = single[best]
        for _ in range(TUNING_PASSES):
            for name in names:
                for value in WEIGHT_GRID:
                    if value == weights[name]:
                        continue
                    candidate = blend + (value - weights[name]) * scores[name]
                    result = evaluate(candidate)
                    if result[1] > current[1] and result[2] > current[2] and result[0] > current[0] + 1e-4:
                        blend, current, weights[name] = candidate, result, value
        self.weights = weights
        self.validation = {name: {"ndcg@10": round(single[name][0], 4)} for name in names}
        self.validation_best_single = best
        self.validation["blend"] = {"ndcg@10": round(current[0], 4)}
        self.validation["hybrid"] = self.validation["blend"]
        reranked = self._train_reranker(models, scores, blend, relevant, halves, holdout)
        self.calibrators = self._fit_calibrators(models, scores, blend, relevant, holdout, reranked)

    def _train_reranker(
        self,
        models: dict[str, Recommender],
        scores: dict[str, np.ndarray],
        blend: np.ndarray,
        relevant: np.ndarray,
        halves: np.ndarray,
        holdout: Holdout,
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Trains on one half of the validation retailers, compares with the blend on the other; if it wins,
        retrains on all validation retailers. A single-signal blend (no personal signal) keeps the blend.

        When kept, returns the candidates and their out-of-fold re-ranker scores (each half scored by the
        re-ranker fitted on the other), the honest input for calibrating it."""
        if (
            "repeat" not in models
            or "popularity" not in models
            or sum(w > 0 for w in self.weights.values()) < 2
        ):
            return None
        rows = models["repeat"].retailer_rows(holdout.retailers)
        parts = {name: scores[name] for name in models}
        candidates, features = candidate_features(models, parts, blend, rows)
        labels = np.take_along_axis(relevant, candidates, axis=1)
        results = []
        out_of_fold = np.zeros(labels.shape, dtype="float64")
        for train_half in (0, 1):
            fit_rows, test_rows = halves == train_half, halves != train_half
            if not labels[fit_rows].any():
                return None
            reranked = Reranker().fit(features[fit_rows], labels[fit_rows]).predict(features[test_rows])
            out_of_fold[test_rows] = reranked
            rescored = self._rerank_scores(blend[test_rows], candidates[test_rows], reranked)
            results.append(
                (
                    ndcg_per_row(rescored, relevant[test_rows]).mean(),
                    ndcg_per_row(blend[test_rows], relevant[test_rows]).mean(),
                )
            )
        self.reranker_trials = [[float(a), float(b)] for a, b in results]
        if all(reranked_ndcg > blend_ndcg + 1e-3 for reranked_ndcg, blend_ndcg in results):
            self.reranker = Reranker().fit(features, labels)
            self.validation["reranker"] = {"ndcg@10": round(float(np.mean([r for r, _ in results])), 4)}
            self.validation["hybrid"] = {
                "ndcg@10": round(float(np.mean([r for r, _ in results])), 4),
                "measured_on": "half of validation retailers not used to fit the re-ranker",
            }
            return candidates, out_of_fold
        return None

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
        weights = self._new_weights()
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
        repeat = self.models["repeat"]
        rows = repeat.retailer_rows(retailers)
        return (rows < 0) | (repeat.orders_total[np.maximum(rows, 0)] == 0)

    def score(self, retailers: Sequence[int], baskets: Baskets = None) -> np.ndarray:
        """Blend of member scores; without a live basket the re-ranker (if kept) orders the top candidates."""
        return self._score_and_signal(retailers, baskets)[0]

    def _score_and_signal(self, retailers: Sequence[int], baskets: Baskets) -> tuple[np.ndarray, np.ndarray]:
        """The ranking scores and the calibrators' input beside them: the ranking score itself, except that a
        re-ranked candidate's signal is its re-ranker score (its ranking score adds an offset that depends on
        the batch); products outside the re-ranked candidates get the lowest signal."""
        with_basket = baskets is not None and any(len(b) for b in baskets)
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
            blend = self._rerank_scores(blend, candidates, reranked)
            signal = np.zeros(blend.shape, dtype="float64")
            np.put_along_axis(signal, candidates, reranked, axis=1)
        cold = self._cold(retailers)
        if cold.any() and not with_basket:
            popular = normalise_rows(self.models["popularity"].score(np.asarray(retailers)[cold]))
            blend[cold] = popular
            signal = np.array(signal, dtype="float64", copy=True)
            signal[cold] = popular
        return blend, signal

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
    ) -> list[Recommendation]:
        """Top `n` per retailer with reasons and, where `calibration` names a fitted calibrator ("for_you" by
        default with the model's own weights), the probability that the retailer orders it next."""
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
                )
                for group in (True, False)
            }
            return sorted(
                ranked[True] + ranked[False], key=lambda rec: (retailers.index(rec.retailer), rec.rank)
            )
        if cold.all() and not baskets:
            weights = {"popularity": 1.0}
        parts = {
            name: normalise_rows(self.models[name].score(retailers, baskets))
            for name, weight in weights.items()
            if weight > 0
        }
        if weights is self.weights or cold.all():
            blend, signal = self._score_and_signal(retailers, baskets)
        else:
            blend = sum(weights[name] * part for name, part in parts.items())
            signal = blend
        probability = None if baskets else self._probabilities(signal, cold, calibration)
        repeat = self.models["repeat"]
        rows = repeat.retailer_rows(retailers)
        basket_rows = repeat.basket_rows(baskets, len(retailers))
        for i, row in enumerate(rows):
            blend[i, basket_rows[i]] = -np.inf
            if exclude_bought and row >= 0:
                blend[i, repeat.times[row].indices] = -np.inf
        out: list[Recommendation] = []
        for i, items in enumerate(top_n(blend, n)):
            for rank, item in enumerate(items, start=1):
                if not np.isfinite(blend[i, item]):
                    break
                reasons = self._reasons(parts, weights, int(rows[i]), int(item), basket_rows[i], i)
                out.append(
                    Recommendation(
                        retailer=int(retailers[i]),
                        product=int(self.product_ids[item]),
                        rank=rank,
                        score=round(float(blend[i, item]), 6),
                        reasons=reasons,
                        probability=None if probability is None else round(float(probability[i, item]), 4),
                    )
                )
        return out

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
                reason = model.reason(row, item)
            else:
                facts = model.explain(row, item, basket)
                reason = None if facts is None else (model.kind, facts)
            # A member citing the product itself as its own anchor proves nothing: its evidence is left out.
            if reason is not None and reason[1].get("anchor") != int(self.product_ids[item]):
                evidence.append((reason[0], contribution, reason[1]))
        total = sum(c for _, c, _ in evidence)
        evidence.sort(key=lambda e: -e[1])
        return tuple(Reason(kind, round(c / total, 4), facts) for kind, c, facts in evidence)

    def new_for(self, retailers: Sequence[int], *, n: int = 20) -> list[Recommendation]:
        """Products the retailer never bought; the content model gets a floor weight so unsold products
        surface."""
        return self.recommend(
            retailers, n=n, exclude_bought=True, weights=self._new_weights(), calibration="new_for_you"
        )

    def _new_weights(self) -> dict[str, float]:
        weights = {name: w for name, w in self.weights.items() if name != "repeat"}
        weights["content"] = max(weights.get("content", 0.0), 0.2)
        weights["popularity"] = max(weights.get("popularity", 0.0), 0.05)
        return weights

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
        }
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
        if "reranker" in meta:
            hybrid.reranker = Reranker.from_bytes(meta["reranker"])
        hybrid.models = {
            name: MEMBERS[name].load(directory / "members" / name) for name in hybrid.member_names
        }
        return hybrid
