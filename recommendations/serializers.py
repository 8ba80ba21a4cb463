"""The recommendation API's shapes: one card (rank, product, score, reasons, sentence) wherever a list of
suggested products is answered, and the due, product detail and "add all due" answers built on it."""

from rest_framework import serializers

from catalog.serializers import ProductSerializer
from orders.models import MAX_LINE_QUANTITY
from smartbasket.api.parameters import ParametersSerializer

# The longest list the API hands out (`?limit=` is at most this); a document holds this many of each list.
DOCUMENT_LIMIT = 50
KINDS = {"for_you": "for_you", "due": "due", "new": "new_for_you"}
DEFAULT_LIMIT = 20


class ReasonSerializer(serializers.Serializer):
    """One structured reason: its kind (`repeat`, `due`, `bought_with`, ...), a short label, the sentence
    stating its facts, and its weight in the score (0..1, strongest first)."""

    kind = serializers.CharField()
    label = serializers.CharField()
    sentence = serializers.CharField()
    weight = serializers.FloatField()


class RecommendationItemSerializer(serializers.Serializer):
    rank = serializers.IntegerField(min_value=1)
    product = ProductSerializer()
    score = serializers.FloatField(help_text="The ranking score: orders a list, has no unit.")
    probability = serializers.FloatField(
        allow_null=True,
        min_value=0.0,
        max_value=1.0,
        help_text="The probability (0..1) that the retailer orders the product in its next order, calibrated "
        "on held-out baskets. Null for due items (see `confidence`) and for lists of a model version trained "
        "before calibration existed.",
    )
    reasons = ReasonSerializer(many=True)
    sentence = serializers.CharField(help_text="The card's explanation, made from its strongest reasons.")
    is_new_arrival = serializers.BooleanField()


class DueItemSerializer(RecommendationItemSerializer):
    expected_date = serializers.DateField()
    cadence_days = serializers.FloatField()
    last_ordered = serializers.DateField()
    days_since_last = serializers.IntegerField(help_text="Days from `last_ordered` to the day of the answer.")
    confidence = serializers.FloatField()
    suggested_quantity = serializers.IntegerField(min_value=1)


class RecommendationQuerySerializer(ParametersSerializer):
    kind = serializers.ChoiceField(
        choices=list(KINDS), required=False, help_text="One list only; all three when omitted."
    )
    limit = serializers.IntegerField(min_value=1, max_value=DOCUMENT_LIMIT, default=DEFAULT_LIMIT)


class RecommendationListSerializer(serializers.Serializer):
    """The lists asked for (all three unless `kind` names one). Before any model version is active,
    `model_version` is null and the lists are the cold-start ones (recommendations/cold_start.py): products
    popular in the retailer's region and segment as `for_you`, new arrivals as `new_for_you`, `due` empty."""

    model_version = serializers.IntegerField(allow_null=True)
    generated_at = serializers.DateTimeField(allow_null=True)
    for_you = RecommendationItemSerializer(many=True, required=False)
    due = DueItemSerializer(many=True, required=False)
    new_for_you = RecommendationItemSerializer(many=True, required=False)


class DueListSerializer(serializers.Serializer):
    model_version = serializers.IntegerField(allow_null=True)
    generated_at = serializers.DateTimeField(allow_null=True)
    due = DueItemSerializer(many=True)


class DueAddSerializer(serializers.Serializer):
    product_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        max_length=DOCUMENT_LIMIT,
        help_text="Only these of the due products; every due product when omitted.",
    )


class SkippedSerializer(serializers.Serializer):
    product_id = serializers.IntegerField()
    reason = serializers.ChoiceField(
        choices=["not_due", "already_in_basket", "discontinued", "invalid_quantity"]
    )
    message = serializers.CharField()


class AddedSerializer(serializers.Serializer):
    product = ProductSerializer()
    quantity = serializers.IntegerField(
        min_value=1, max_value=MAX_LINE_QUANTITY, help_text="The suggested quantity, now the basket line's."
    )


class DueAddResultSerializer(serializers.Serializer):
    added = AddedSerializer(many=True)
    skipped = SkippedSerializer(many=True)
    basket_line_count = serializers.IntegerField()


class BoughtTogetherSerializer(serializers.Serializer):
    product = ProductSerializer(source="other")
    together = serializers.IntegerField(help_text="Orders containing both products.")
    product_orders = serializers.IntegerField(help_text="Orders containing the product asked about.")
    confidence = serializers.FloatField()
    lift = serializers.FloatField()
    sentence = serializers.CharField(source="explanation")


class SimilarSerializer(serializers.Serializer):
    product = ProductSerializer(source="other")
    similarity = serializers.FloatField()
    sentence = serializers.CharField()


class ProductDetailSerializer(serializers.Serializer):
    product = ProductSerializer()
    bought_together = BoughtTogetherSerializer(many=True)
    similar = SimilarSerializer(many=True)
