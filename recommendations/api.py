"""Recommendation, due-for-reorder and product-detail JSON for the mobile app (API v1).

A recommendation read costs the sign-in query, the active-version query and one cache round trip: the lists
come from the retailer's precomputed document (recommendations/documents.py), built from the same rows and
with the same choices as the dashboard. Every object is the signed-in retailer's own.
"""

from typing import Any

from django.db.models import prefetch_related_objects
from django.http import Http404, HttpResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.decorators import api_view, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Retailer
from catalog.api import IsRetailerMember
from catalog.selectors import product_for_catalogue
from orders.selectors import basket_line_count
from recommendations import answers, cold_start, dashboard, explanations, feedback, selectors
from recommendations.documents import NAMES_FIELD, card_item, document_lists
from recommendations.feedback import Event, Surface
from recommendations.portal_services import due_items_add
from recommendations.serializers import (
    DOCUMENT_LIMIT,
    KINDS,
    DueAddResultSerializer,
    DueAddSerializer,
    DueListSerializer,
    ProductDetailSerializer,
    RecommendationListSerializer,
    RecommendationQuerySerializer,
)

RELATED_LIMIT = 10
LIST_SURFACES = {"for_you": Surface.FOR_YOU, "due": Surface.DUE, "new_for_you": Surface.NEW_FOR_YOU}

_PRODUCT = {
    "id": 17,
    "sku": "85123A",
    "name": "White hanging heart T-light holder",
    "description": "",
    "vendor": {"id": 3, "name": "Hearth & Home"},
    "category": {"id": 5, "name": "Candles"},
    "unit_price": "2.55",
    "pack_size": 6,
    "is_active": True,
}
_CARD = {
    "rank": 1,
    "product": _PRODUCT,
    "score": 3.82,
    "probability": 0.62,
    "reasons": [
        {
            "kind": "repeat",
            "label": "You buy it",
            "sentence": "You ordered this in 9 of your 14 orders; last ordered 2 Nov, 30 days ago",
            "weight": 0.74,
        }
    ],
    "sentence": "You ordered this in 9 of your 14 orders; last ordered 2 Nov, 30 days ago.",
    "is_new_arrival": False,
}
_DUE = {
    **_CARD,
    "score": 0.7,
    "probability": None,
    "reasons": [
        {
            "kind": "due",
            "label": "Due",
            "sentence": "You order this about every 14 days; last ordered 17 Nov, 15 days ago",
            "weight": 1.0,
        }
    ],
    "sentence": "You order this about every 14 days; last ordered 17 Nov, 15 days ago.",
    "expected_date": "2011-12-01",
    "cadence_days": 14.0,
    "last_ordered": "2011-11-17",
    "days_since_last": 15,
    "confidence": 0.7,
    "suggested_quantity": 6,
}
LIST_EXAMPLE = OpenApiExample(
    "Recommendations",
    value={
        "model_version": 4,
        "generated_at": "2011-12-02T09:30:00+00:00",
        "for_you": [_CARD],
        "due": [_DUE],
        "new_for_you": [{**_CARD, "is_new_arrival": True}],
    },
    response_only=True,
)
DUE_EXAMPLE = OpenApiExample(
    "Due for reorder",
    value={"model_version": 4, "generated_at": "2011-12-02T09:30:00+00:00", "due": [_DUE]},
    response_only=True,
)
DUE_ADD_REQUEST_EXAMPLE = OpenApiExample(
    "Two of the due products", value={"product_ids": [17, 23]}, request_only=True
)
DUE_ADD_EXAMPLE = OpenApiExample(
    "Added to the basket",
    value={
        "added": [{"product": _PRODUCT, "quantity": 6}],
        "skipped": [
            {"product_id": 23, "reason": "discontinued", "message": "Tea towel is no longer available."}
        ],
        "basket_line_count": 3,
    },
    response_only=True,
)
DETAIL_EXAMPLE = OpenApiExample(
    "A product and its related products",
    value={
        "product": _PRODUCT,
        "bought_together": [
            {
                "product": {**_PRODUCT, "id": 18, "name": "Red hanging heart T-light holder"},
                "together": 212,
                "product_orders": 1340,
                "confidence": 0.16,
                "lift": 3.2,
                "sentence": "Bought with White hanging heart T-light holder in 212 of 1,340 orders "
                "(3.2x more often than chance).",
            }
        ],
        "similar": [
            {
                "product": {**_PRODUCT, "id": 19, "name": "Cream hanging heart T-light holder"},
                "similarity": 0.64,
                "sentence": "64% match on name, description and category.",
            }
        ],
    },
    response_only=True,
)


def _impressions_record(*, retailer: Retailer, events: list[Event]) -> None:
    """Impressions of what the answer showed: buffered in Redis and written in batches by a task, so the
    request path has no INSERT (written at once when Redis is down)."""
    if events:
        feedback.events_buffer(retailer_id=retailer.pk, events=events)


def _cold_start_document(retailer: Retailer, *names: str, limit: int) -> dict[str, Any]:
    """While no version is active: the dashboard's cold-start lists (popular in the retailer's region, then
    in its segment, as "for you"; new arrivals as "new for you"; nothing is due without a model), counted
    live, in the same item shape."""
    picks = cold_start.cold_start_picks(retailer=retailer, limit=limit)
    lists = {"for_you": picks.popular[:limit], "new_for_you": picks.new_arrivals, "due": []}
    surfaces = {"for_you": Surface.FOR_YOU, "new_for_you": Surface.NEW_FOR_YOU, "due": Surface.DUE}
    # Shaped as a stored document (the cold-start reasons quote no product), put into words as one is.
    document = {
        NAMES_FIELD: {},
        **{
            name: [
                card_item(card)
                for card in dashboard.pick_cards(lists[name], surface=surfaces[name], quantities={})
            ]
            for name in names
        },
    }
    items = document_lists(document, names=names, limit=limit, today=timezone.localdate())
    return {"model_version": None, "generated_at": timezone.now().isoformat(), **items}


def _lists(retailer: Retailer, *names: str, limit: int) -> HttpResponse:
    """The named lists of the retailer's document, `limit` long, with their impressions recorded.

    The answer is sent as the bytes answers.py keeps (rendered by DRF's renderer from the document, which
    the API's serializers shaped when it was built), so a read costs no serialization."""
    version_id = selectors.active_version_id()
    if version_id is not None:
        body = answers.answer_read(
            retailer=retailer,
            version_id=version_id,
            names=names,
            limit=limit,
            today=timezone.localdate(),
            surfaces=LIST_SURFACES,
        )
        return HttpResponse(body, content_type="application/json")
    answer = _cold_start_document(retailer, *names, limit=limit)
    _impressions_record(
        retailer=retailer,
        events=answers.list_impressions(answer, names=names, surfaces=LIST_SURFACES, version_id=None),
    )
    return Response(answer)


@extend_schema(
    summary="Recommendations: for you, due for reorder, new for you",
    parameters=[RecommendationQuerySerializer],
    responses={200: RecommendationListSerializer},
    examples=[LIST_EXAMPLE],
)
@api_view(["GET"])
@permission_classes([IsRetailerMember])
def recommendation_list(request: Request) -> HttpResponse:
    """Ranked products with their structured reasons and sentence, from the active model version; `kind`
    picks one list (`for_you`, `due` or `new`), `limit` (1-50, default 20) cuts each list."""
    query = RecommendationQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    kind = query.validated_data.get("kind")
    names = [KINDS[kind]] if kind else list(KINDS.values())
    return _lists(request.user.retailer, *names, limit=query.validated_data["limit"])


@extend_schema(
    summary="Products due for reorder",
    responses={200: DueListSerializer},
    examples=[DUE_EXAMPLE],
)
@api_view(["GET"])
@permission_classes([IsRetailerMember])
def due_list(request: Request) -> HttpResponse:
    """What the retailer orders regularly and is due (or overdue), soonest first, with the cadence, the last
    order and the suggested quantity."""
    return _lists(request.user.retailer, "due", limit=DOCUMENT_LIMIT)


@extend_schema(
    summary="Add the due products to the basket",
    request=DueAddSerializer,
    responses={200: DueAddResultSerializer},
    examples=[DUE_ADD_REQUEST_EXAMPLE, DUE_ADD_EXAMPLE],
)
@api_view(["POST"])
@permission_classes([IsRetailerMember])
def due_add_to_basket(request: Request) -> Response:
    """Adds each due product's suggested quantity (all due products, or the `product_ids` among them);
    products not due, already in the basket (left at their quantity) or discontinued are listed under
    `skipped`."""
    body = DueAddSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    retailer = request.user.retailer
    wanted = body.validated_data.get("product_ids")
    # The same service as the portal's "add all due" button, over the due list the app was shown.
    predictions = selectors.reorders_due_for(
        retailer=retailer, limit=DOCUMENT_LIMIT, version=selectors.active_version(), product_ids=wanted
    )
    result = due_items_add(retailer=retailer, predictions=predictions, asked=wanted or ())
    answer = {
        "added": [{"product": row.product, "quantity": row.suggested_quantity} for row in result.added],
        "skipped": result.skipped,
        "basket_line_count": basket_line_count(retailer=retailer),
    }
    return Response(DueAddResultSerializer(answer).data)


@extend_schema(
    summary="A product, often bought together with it, and similar products",
    responses={200: ProductDetailSerializer},
    examples=[DETAIL_EXAMPLE],
)
@api_view(["GET"])
@permission_classes([IsRetailerMember])
def product_detail(request: Request, product_id: int) -> Response:
    """Any product, a discontinued one too (a retailer may follow a link from an old order, as on the
    portal's product page); the related lists offer active products only, each with its reason."""
    product = product_for_catalogue(product_id=product_id)
    if product is None:
        raise Http404("No such product")
    related = selectors.related_to(product=product, limit=RELATED_LIMIT)
    # The selectors join the vendor; the product shape names the category too: one query for all of them.
    prefetch_related_objects([*related.bought_together, *related.similar], "other__category")
    _impressions_record(retailer=request.user.retailer, events=related.impressions())
    answer = {
        "product": product,
        "bought_together": related.bought_together,
        "similar": [
            {
                "other": row.other,
                "similarity": row.similarity,
                "sentence": explanations.similarity_sentence(similarity=row.similarity),
            }
            for row in related.similar
        ],
    }
    return Response(ProductDetailSerializer(answer).data)
