"""Next-item predictions, their history and the app's feedback events: thin views over
recommendations.predictions and recommendations.feedback, the signed-in retailer's data only."""

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from catalog.api import IsRetailerMember
from catalog.serializers import ProductSerializer
from recommendations import feedback, predictions
from recommendations.models import Prediction, RecommendationEvent
from recommendations.serializers import ReasonSerializer
from smartbasket.api.pagination import PagePagination
from smartbasket.api.parameters import ParametersSerializer

# Ids are 32-bit in the database: a larger number cannot name a product, and must not reach a query.
MAX_ID = 2**31 - 1
MAX_FEEDBACK_EVENTS = 200


class NextItemRequestSerializer(ParametersSerializer):
    product_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        max_length=predictions.MAX_PRODUCT_IDS,
        help_text="The products to complete, in any order; the retailer's current basket when omitted.",
    )
    limit = serializers.IntegerField(
        min_value=1, max_value=predictions.MAX_LIMIT, default=predictions.DEFAULT_LIMIT
    )


class NextItemQuerySerializer(ParametersSerializer):
    limit = serializers.IntegerField(
        min_value=1, max_value=predictions.MAX_LIMIT, default=predictions.DEFAULT_LIMIT
    )


class NextItemResultSerializer(serializers.Serializer):
    rank = serializers.IntegerField(min_value=1)
    product = ProductSerializer()
    score = serializers.FloatField()
    reasons = ReasonSerializer(many=True)
    sentence = serializers.CharField()


class NextItemSerializer(serializers.Serializer):
    """`model_version` is null, and `results` empty, before any model has been trained."""

    model_version = serializers.IntegerField(allow_null=True)
    basket = serializers.ListField(child=serializers.IntegerField(), help_text="The product ids completed.")
    results = NextItemResultSerializer(many=True)


class PredictionResultSerializer(serializers.Serializer):
    rank = serializers.IntegerField(min_value=1)
    product_id = serializers.IntegerField()
    score = serializers.FloatField()
    sentence = serializers.CharField()


class PredictionSerializer(serializers.ModelSerializer):
    """One answer as it was given: the products asked about and the ranked ids returned."""

    input_product_ids = serializers.ListField(child=serializers.IntegerField())
    results = PredictionResultSerializer(many=True)

    class Meta:
        model = Prediction
        fields = ["id", "kind", "model_version", "input_product_ids", "results", "created_at"]
        read_only_fields = fields


class PredictionPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = PredictionSerializer(many=True)


class FeedbackEventSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=RecommendationEvent.Kind.choices)
    product_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    surface = serializers.ChoiceField(choices=RecommendationEvent.EventSurface.choices)
    model_version = serializers.IntegerField(
        min_value=1,
        max_value=MAX_ID,
        required=False,
        allow_null=True,
        help_text="The `model_version` of the answer that showed the product; required for clicks and adds.",
    )
    occurred_at = serializers.DateTimeField(required=False, help_text="When it happened; now when omitted.")


class FeedbackBatchSerializer(serializers.Serializer):
    events = FeedbackEventSerializer(many=True, allow_empty=False, max_length=MAX_FEEDBACK_EVENTS)


class RejectionSerializer(serializers.Serializer):
    index = serializers.IntegerField(min_value=0, help_text="Position of the event in the posted list.")
    reason = serializers.ChoiceField(
        choices=["unknown_product", "unknown_model_version", "not_tracked", "in_the_future", "too_old"]
    )


class FeedbackAcceptedSerializer(serializers.Serializer):
    """`accepted` events are queued; a click or an add counts only if that version showed that product on
    that surface to this retailer in the last 14 days, once a day."""

    accepted = serializers.IntegerField(min_value=0)
    rejected = RejectionSerializer(many=True)


PRODUCT_EXAMPLE = {
    "id": 42,
    "sku": "85123A",
    "name": "White hanging heart T-light holder",
    "description": "",
    "vendor": {"id": 3, "name": "Heart & Home"},
    "category": {"id": 7, "name": "Home decor"},
    "unit_price": "2.55",
    "pack_size": 6,
    "is_active": True,
}
NEXT_ITEM_EXAMPLE = OpenApiExample(
    "Completing a two-product basket",
    response_only=True,
    value={
        "model_version": 12,
        "basket": [17, 23],
        "results": [
            {
                "rank": 1,
                "product": PRODUCT_EXAMPLE,
                "score": 0.91,
                "reasons": [
                    {
                        "kind": "bought_with",
                        "label": "Bought together",
                        "sentence": "Bought with Jam jar in 212 of 1,340 orders (3.2x more often than "
                        "chance)",
                        "weight": 1.0,
                    }
                ],
                "sentence": "Bought with Jam jar in 212 of 1,340 orders (3.2x more often than chance).",
            }
        ],
    },
)


def _next_item_body(answer: predictions.NextItemAnswer) -> dict[str, Any]:
    # Built directly: the product JSON is ProductSerializer's output already (cached), re-serialising it
    # would only cost time on the hottest endpoint.
    return {
        "model_version": answer.model_version,
        "basket": answer.basket,
        "results": [
            {
                "rank": item.rank,
                "product": item.product,
                "score": item.score,
                "reasons": [
                    {"kind": line.kind, "label": line.label, "sentence": line.sentence, "weight": line.weight}
                    for line in item.reasons
                ],
                "sentence": item.sentence,
            }
            for item in answer.results
        ],
    }


def _next_item(request: Request) -> Response:
    if request.method == "GET":
        query = NextItemQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        product_ids, limit = None, query.validated_data["limit"]
    else:
        body = NextItemRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        product_ids, limit = body.validated_data.get("product_ids"), body.validated_data["limit"]
    try:
        answer = predictions.next_item_predict(
            retailer=request.user.retailer, user=request.user, product_ids=product_ids, limit=limit
        )
    except predictions.UnknownProducts as error:
        raise ValidationError({"product_ids": [str(error)]}) from error
    return Response(_next_item_body(answer))


@extend_schema(
    summary="Predict the next items for a list of products or the basket",
    description=(
        "POST `product_ids` (at most 100, every one an existing product on sale) and `limit` (1-50, 10 by "
        "default); without `product_ids`, or with GET and `?limit=`, the retailer's current basket is "
        "completed. Each answer is recorded in the prediction history."
    ),
    methods=["POST"],
    request=NextItemRequestSerializer,
    responses={200: NextItemSerializer},
    examples=[
        OpenApiExample("Two products", request_only=True, value={"product_ids": [17, 23], "limit": 5}),
        NEXT_ITEM_EXAMPLE,
    ],
)
@extend_schema(
    summary="Predict the next items for the current basket",
    methods=["GET"],
    parameters=[NextItemQuerySerializer],
    responses={200: NextItemSerializer},
    examples=[NEXT_ITEM_EXAMPLE],
)
@api_view(["GET", "POST"])
@permission_classes([IsRetailerMember])
def next_item(request: Request) -> Response:
    """Ranked products that complete the basket, each with its reasons, from the active model version."""
    return _next_item(request)


@extend_schema(exclude=True)
@api_view(["GET", "POST"])
@permission_classes([IsRetailerMember])
def next_item_unslashed(request: Request) -> Response:
    """The seed's path without the trailing slash: a POST cannot follow a redirect, so it is answered here."""
    return _next_item(request)


@extend_schema(
    summary="The retailer's prediction history",
    description="Next-item answers given to this retailer, newest first, as they were given.",
    responses={200: PredictionPageSerializer},
    examples=[
        OpenApiExample(
            "One prediction",
            response_only=True,
            value={
                "count": 1,
                "next": None,
                "previous": None,
                "results": [
                    {
                        "id": 5,
                        "kind": "next_item",
                        "model_version": 12,
                        "input_product_ids": [17, 23],
                        "results": [
                            {
                                "rank": 1,
                                "product_id": 42,
                                "score": 0.91,
                                "sentence": "Bought with Jam jar in 212 of 1,340 orders (3.2x more often "
                                "than chance).",
                            }
                        ],
                        "created_at": "2026-12-02T10:15:00Z",
                    }
                ],
            },
        )
    ],
)
@api_view(["GET"])
@permission_classes([IsRetailerMember])
def prediction_history(request: Request) -> Response:
    paginator = PagePagination()
    page = paginator.paginate_queryset(
        predictions.prediction_history(retailer=request.user.retailer), request
    )
    return paginator.get_paginated_response(PredictionSerializer(page, many=True).data)


@extend_schema(
    summary="Post the app's impressions, clicks and adds",
    description=(
        "At most 200 events per batch. Answers 202 with how many were queued and which were refused "
        "(by index); a click or an add counts only for a product that version showed on that surface."
    ),
    request=FeedbackBatchSerializer,
    responses={202: FeedbackAcceptedSerializer},
    examples=[
        OpenApiExample(
            "A shown product, clicked",
            request_only=True,
            value={
                "events": [
                    {"kind": "impression", "product_id": 42, "surface": "basket", "model_version": 12},
                    {"kind": "click", "product_id": 42, "surface": "basket", "model_version": 12},
                ]
            },
        ),
        OpenApiExample(
            "One refused",
            response_only=True,
            value={"accepted": 1, "rejected": [{"index": 1, "reason": "not_tracked"}]},
        ),
    ],
)
@api_view(["POST"])
@permission_classes([IsRetailerMember])
def feedback_batch(request: Request) -> Response:
    body = FeedbackBatchSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    outcome = feedback.feedback_batch_accept(
        retailer=request.user.retailer, events=body.validated_data["events"]
    )
    return Response(
        {
            "accepted": outcome.accepted,
            "rejected": [{"index": item.index, "reason": item.reason} for item in outcome.rejected],
        },
        status=status.HTTP_202_ACCEPTED,
    )
