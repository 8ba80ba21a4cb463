"""Writes the retailer portal makes on the retailer's behalf (the pipeline's writes live in
training_runs.py, training.py, precompute.py, publish.py and refresh.py)."""

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import Retailer
from orders.services import basket_add_product
from recommendations.dashboard import basket_state
from recommendations.feedback import Event, Kind, Surface, events_record
from recommendations.models import ReorderPrediction


@dataclass(frozen=True)
class DueSkipped:
    """A product asked for that did not go into the basket, and why (the API reports the reason code)."""

    product_id: int
    reason: str  # "not_due", "already_in_basket", "discontinued" or "invalid_quantity"
    message: str


@dataclass
class DueAddResult:
    added: list[ReorderPrediction] = field(default_factory=list)
    already_in_basket: list[ReorderPrediction] = field(default_factory=list)
    skipped: list[DueSkipped] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        """What the basket refused, in the retailer's words (items already in it are not a problem)."""
        return [item.message for item in self.skipped if item.reason not in ("not_due", "already_in_basket")]


@transaction.atomic
def due_items_add(
    *, retailer: Retailer, predictions: list[ReorderPrediction], asked: Iterable[int] = ()
) -> DueAddResult:
    """Put due items into the basket at their suggested quantities and record the adds, in one transaction.

    Items already in the basket are left alone: the retailer has already decided how many of those to order.
    An item the basket refuses (discontinued, quantity out of range) is reported and the others still go in.
    `asked` are the product ids the caller asked for (the API's `product_ids`): those without a due
    prediction are reported as skipped.
    """
    in_basket = basket_state(retailer=retailer).quantities
    due = {prediction.product_id for prediction in predictions}
    not_due = [pk for pk in dict.fromkeys(asked) if pk not in due]
    result = DueAddResult(
        skipped=[DueSkipped(pk, "not_due", "This product is not due for reorder.") for pk in not_due]
    )
    for prediction in predictions:
        if prediction.product_id in in_basket:
            result.already_in_basket.append(prediction)
            message = "This product is already in the basket."
            result.skipped.append(DueSkipped(prediction.product_id, "already_in_basket", message))
            continue
        try:
            basket_add_product(
                retailer=retailer, product=prediction.product, quantity=prediction.suggested_quantity
            )
        except ValidationError as error:
            reason = "discontinued" if error.code == "inactive_product" else "invalid_quantity"
            result.skipped.append(DueSkipped(prediction.product_id, reason, " ".join(error.messages)))
            continue
        result.added.append(prediction)
    events_record(
        retailer=retailer,
        events=[
            Event(
                product_id=prediction.product_id,
                surface=Surface.DUE,
                kind=Kind.ADD,
                model_version_id=prediction.model_version_id,
            )
            for prediction in result.added
        ],
    )
    return result
