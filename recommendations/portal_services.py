"""Writes the retailer portal makes on the retailer's behalf (the pipeline's writes live in services.py)."""

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import Retailer
from orders.services import basket_add_product
from recommendations.dashboard import basket_state
from recommendations.feedback import Event, Kind, Surface, events_record
from recommendations.models import ReorderPrediction


@dataclass
class DueAddResult:
    added: list[ReorderPrediction] = field(default_factory=list)
    already_in_basket: list[ReorderPrediction] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@transaction.atomic
def due_items_add(*, retailer: Retailer, predictions: list[ReorderPrediction]) -> DueAddResult:
    """Put due items into the basket at their suggested quantities and record the adds, in one transaction.

    Items already in the basket are left alone: the retailer has already decided how many of those to order.
    An item the basket refuses (discontinued, quantity out of range) is reported and the others still go in.
    """
    in_basket = basket_state(retailer=retailer).quantities
    result = DueAddResult()
    for prediction in predictions:
        if prediction.product_id in in_basket:
            result.already_in_basket.append(prediction)
            continue
        try:
            basket_add_product(
                retailer=retailer, product=prediction.product, quantity=prediction.suggested_quantity
            )
        except ValidationError as error:
            result.problems.extend(error.messages)
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
