"""Recommendation JSON for the mobile app: the same precomputed rows as the dashboard and the product page,
one model version per request, the signed-in retailer's rows only."""

from django.http import Http404
from rest_framework.decorators import api_view, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response

from catalog.api import IsRetailerMember
from catalog.models import Product
from catalog.selectors import product_for_catalogue
from recommendations.dashboard import Card, DueItem, dashboard_for
from recommendations.feedback import events_record
from recommendations.models import ProductAssociation, SimilarProduct
from recommendations.selectors import related_to

RELATED_LIMIT = 10


def _product(product: Product) -> dict:
    return {
        "id": product.pk,
        "name": product.name,
        "vendor": product.vendor.name,
        "unit_price": str(product.unit_price),
        "pack_size": product.pack_size,
    }


def _card(card: Card) -> dict:
    return {
        "product": _product(card.product),
        "rank": card.rank,
        "score": card.score,
        "explanation": card.explanation,
        "reasons": [
            {"label": reason.label, "sentence": reason.sentence, "weight": reason.weight}
            for reason in card.reasons
        ],
        "is_new_arrival": card.is_new_arrival,
        "in_basket": card.basket_quantity,
    }


def _due(item: DueItem) -> dict:
    prediction = item.prediction
    return {
        "product": _product(prediction.product),
        "expected_date": prediction.expected_date,
        "confidence": prediction.confidence,
        "cadence_days": prediction.cadence_days,
        "last_ordered": prediction.last_ordered,
        "days_since_last": prediction.days_since_last,
        "suggested_quantity": prediction.suggested_quantity,
        "explanation": prediction.explanation,
        "in_basket": item.basket_quantity,
    }


@api_view(["GET"])
@permission_classes([IsRetailerMember])
def recommendation_list(request: Request) -> Response:
    """The dashboard's lists: recommended for you, due for reorder, new for you."""
    retailer = request.user.retailer
    board = dashboard_for(retailer=retailer)
    events_record(retailer=retailer, events=board.impressions())
    return Response(
        {
            "model_version": board.version.pk if board.version else None,
            "for_you": [_card(card) for card in board.for_you],
            "due": [_due(item) for item in board.due],
            "new_for_you": [_card(card) for card in board.new_for_you],
        }
    )


def _association(row: ProductAssociation) -> dict:
    return {
        "product": _product(row.other),
        "together": row.together,
        "product_orders": row.product_orders,
        "confidence": row.confidence,
        "lift": row.lift,
        "explanation": row.explanation,
    }


def _similar(row: SimilarProduct) -> dict:
    return {"product": _product(row.other), "similarity": row.similarity}


@api_view(["GET"])
@permission_classes([IsRetailerMember])
def product_related(request: Request, product_id: int) -> Response:
    """A product's "often bought together" (with the counts behind it) and "similar products"."""
    product = product_for_catalogue(product_id=product_id)
    if product is None:
        raise Http404("No such product")
    related = related_to(product=product, limit=RELATED_LIMIT)
    events_record(retailer=request.user.retailer, events=related.impressions())
    return Response(
        {
            "bought_together": [_association(row) for row in related.bought_together],
            "similar": [_similar(row) for row in related.similar],
        }
    )
