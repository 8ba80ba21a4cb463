"""The API shapes of the basket and orders. A line looks the same in a basket and in an order."""

from typing import Any

from rest_framework import serializers

from catalog.models import Product
from catalog.serializers import PageSerializer, ProductSerializer
from orders import services
from orders.models import Order, OrderLine
from orders.selectors import BasketSummary
from smartbasket.api.pagination import MAX_PAGE_SIZE
from smartbasket.api.parameters import ParametersSerializer

MONEY = {"max_digits": 14, "decimal_places": 2}


class LineSerializer(serializers.ModelSerializer):
    """A line of the basket or of an order: `unit_price` is the line's own price (the basket's is today's)."""

    product = ProductSerializer(read_only=True)
    line_total = serializers.DecimalField(read_only=True, **MONEY)
    available = serializers.BooleanField(
        source="product.is_active", read_only=True, help_text="False once the product is discontinued."
    )

    class Meta:
        model = OrderLine
        fields = ["product", "quantity", "unit_price", "line_total", "available"]
        read_only_fields = fields


class BasketSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True, source="basket.id", default=None)
    lines = LineSerializer(many=True)
    line_count = serializers.SerializerMethodField()
    item_count = serializers.IntegerField()
    total = serializers.DecimalField(**MONEY)
    has_unavailable = serializers.BooleanField(
        help_text="A line's product was discontinued: remove it to place."
    )

    def get_line_count(self, summary: BasketSummary) -> int:
        return len(summary.lines)


class OrderSummarySerializer(serializers.ModelSerializer):
    total = serializers.DecimalField(source="total_amount", **MONEY)
    line_count = serializers.IntegerField()

    class Meta:
        model = Order
        fields = ["id", "number", "status", "placed_at", "total", "line_count"]


class OrderSerializer(serializers.Serializer):
    """An order with its lines; built from (order, lines) so the lines are read in one query."""

    id = serializers.IntegerField(source="order.id", help_text="Internal; the URLs of the order take it.")
    number = serializers.IntegerField(
        source="order.number", help_text="The retailer's own order number (#1, #2, ...) the portal shows."
    )
    status = serializers.CharField(source="order.status")
    placed_at = serializers.DateTimeField(source="order.placed_at")
    lines = LineSerializer(many=True)
    line_count = serializers.SerializerMethodField()
    total = serializers.SerializerMethodField()

    def get_line_count(self, data: dict) -> int:
        return len(data["lines"])

    def get_total(self, data: dict) -> str:
        total = sum((line.line_total for line in data["lines"]), 0)
        return serializers.DecimalField(**MONEY).to_representation(total)


class OrderPageSerializer(PageSerializer):
    results = OrderSummarySerializer(many=True)


class OrderListQuerySerializer(ParametersSerializer):
    q = serializers.CharField(
        required=False,
        default="",
        allow_blank=True,
        max_length=100,
        help_text='An order number ("42" or "#42", the `number` field) or part of a product name.',
    )
    date_from = serializers.DateField(
        required=False, default=None, help_text="Placed on or after (YYYY-MM-DD)."
    )
    date_to = serializers.DateField(
        required=False, default=None, help_text="Placed on or before (YYYY-MM-DD)."
    )
    status = serializers.ChoiceField(
        choices=[Order.Status.PLACED, Order.Status.CANCELLED], required=False, default=None
    )
    page = serializers.IntegerField(required=False, min_value=1)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=MAX_PAGE_SIZE)

    def validate(self, attrs: dict) -> dict:
        if attrs["date_from"] and attrs["date_to"] and attrs["date_from"] > attrs["date_to"]:
            raise serializers.ValidationError({"date_to": "Must not be before date_from."})
        return attrs


class BasketAddSerializer(serializers.Serializer):
    """`validated_data["product"]` is the product, read once while validating its id."""

    product_id = serializers.IntegerField(min_value=1)
    quantity = serializers.IntegerField(min_value=1, max_value=services.MAX_LINE_QUANTITY, default=1)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        product = Product.objects.filter(pk=attrs["product_id"]).first()
        if product is None:
            raise serializers.ValidationError({"product_id": ["No product with this id."]})
        if not product.is_active:
            raise serializers.ValidationError({"product_id": [f"{product.name} is no longer available."]})
        return {**attrs, "product": product}


class BasketSetSerializer(serializers.Serializer):
    quantity = serializers.IntegerField(min_value=0, max_value=services.MAX_LINE_QUANTITY)


class ReorderSkippedSerializer(serializers.Serializer):
    product = ProductSerializer()
    reason = serializers.ChoiceField(choices=["discontinued"])


class ReorderSerializer(serializers.Serializer):
    """Built from orders.services.ReorderResult and the basket after it."""

    added = ProductSerializer(many=True, help_text="Products whose lines were added to the basket.")
    skipped = ReorderSkippedSerializer(many=True, help_text="Products that were not added, and why.")
    basket = BasketSerializer()

    @staticmethod
    def data_of(*, result: services.ReorderResult, basket: BasketSummary) -> dict[str, Any]:
        return {
            "added": result.added,
            "skipped": [{"product": product, "reason": "discontinued"} for product in result.skipped],
            "basket": basket,
        }
