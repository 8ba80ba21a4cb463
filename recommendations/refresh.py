"""Freshness: one retailer's rows from the active model, without a retrain.

Placing an order queues a refresh of that retailer's rows (`retailer_refresh_enqueue`, through the task
outbox by task name, so this module never imports the tasks); a worker then rewrites them with
`retailer_refresh`. The web process imports this module, so the ML core is imported inside functions only.
"""

from dataclasses import replace
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from orders.models import Order
from recommendations import documents
from recommendations.artifacts import model_version_load
from recommendations.models import ModelVersion
from recommendations.outbox import task_outbox_add
from recommendations.precompute import (
    model_version_rows_delete,
    product_names,
    retailer_rows_write,
    sections_lay_out,
)


def retailer_refresh_enqueue(*, retailer_id: int) -> None:
    """With the caller's transaction, queue a refresh of this retailer's rows (called on order placement)."""
    task_outbox_add(task_name="recommendations.tasks.refresh_retailer", args=[retailer_id])


def _retailer_repeat_model(*, model: Any, retailer_id: int) -> Any:
    """The active model's repeat settings fitted on this retailer's whole history, orders after the cutoff
    included: same rule, fresh data. None when the retailer has no orders."""
    from recommendations.ml.data import TrainingData
    from recommendations.ml.repeat import RepeatModel
    from recommendations.training_data import training_data_from_db

    data = training_data_from_db(retailer_id=retailer_id)
    if data.interactions.empty:
        return None
    own = TrainingData(data.interactions, data.products, data.retailers.loc[[retailer_id]])
    return RepeatModel(**model.params.get("repeat", {})).fit(own)


def _with_current_history(recommendation: Any, repeat: Any) -> Any:
    """Repeat and due reasons restated from the retailer's orders as they are now, so a sentence never
    quotes a count or a last-order date that a newer order has made false."""
    row = int(repeat.retailer_rows([recommendation.retailer])[0])
    items = repeat.product_rows([recommendation.product])
    reasons = []
    for reason in recommendation.reasons:
        if reason.kind in ("repeat", "due"):
            current = repeat.reason(row, int(items[0])) if row >= 0 and len(items) else None
            if current is None:
                continue
            reason = replace(reason, kind=current[0], facts=current[1])
        reasons.append(reason)
    return replace(recommendation, reasons=tuple(reasons))


def retailer_refresh(*, retailer_id: int) -> dict[str, int]:
    """Rewrite this retailer's rows of the active version; same inputs give the same rows (idempotent).

    The active model ranks as it did at its data cutoff; what the retailer ordered since is left out of
    "for you" and "new for you" (just bought), and reorder predictions and repeat reasons come from the
    retailer's whole order history.
    """
    version = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()
    if version is None:
        return {}
    model = model_version_load(version=version)
    placed = Order.objects.filter(retailer_id=retailer_id, status=Order.Status.PLACED)
    latest = placed.order_by("-placed_at").values_list("placed_at", flat=True).first()
    as_of = max(version.data_cutoff.date(), latest.date()) if latest else version.data_cutoff.date()
    ordered_since = set(
        placed.filter(placed_at__gt=version.data_cutoff).values_list("lines__product_id", flat=True)
    )
    known = set(product_names())
    repeat = _retailer_repeat_model(model=model, retailer_id=retailer_id)
    due = repeat.due([retailer_id], as_of=as_of) if repeat else []
    sections = sections_lay_out(
        model=model, retailer_ids=[retailer_id], due=due, known=known, exclude={retailer_id: ordered_since}
    )
    recommended = [_with_current_history(rec, repeat) if repeat else rec for rec in sections.for_you]
    new = sections.new_for_you
    with transaction.atomic():
        # Lock the version row so a concurrent prune cannot delete it between our delete and insert.
        if (
            not ModelVersion.objects.select_for_update()
            .filter(pk=version.pk, pruned_at__isnull=True)
            .exists()
        ):
            return {}
        model_version_rows_delete(version=version, retailer_ids=[retailer_id])
        counts = retailer_rows_write(
            version_id=version.pk, recommended=recommended, new=new, due=due, known=known
        )
        documents.document_rebuild(retailer_id=retailer_id, version=version)
        return counts


def retailers_refresh_recent(*, hours: int = 2) -> list[int]:
    """Retailers with orders placed recently: the hourly catch-up for refreshes lost while Redis was down."""
    since = timezone.now() - timedelta(hours=hours)
    retailer_ids = sorted(
        set(
            Order.objects.filter(status=Order.Status.PLACED, placed_at__gte=since).values_list(
                "retailer_id", flat=True
            )
        )
    )
    for retailer_id in retailer_ids:
        retailer_refresh(retailer_id=retailer_id)
    return retailer_ids
