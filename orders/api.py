"""Basket and order JSON for the mobile app. Every object is read through the signed-in retailer: a foreign id
is a 404, never another retailer's data."""

from django.core.exceptions import ValidationError
from django.http import Http404
from rest_framework import serializers, status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response

from catalog.api import IsRetailerMember
from catalog.models import Product
from orders import selectors, services
from orders.models import Order, OrderLine
from orders.selectors import BasketSummary
from recommendations.selectors import basket_completion

SUGGESTION_LIMIT_MAX = 20


class LineSerializer(serializers.ModelSerializer):
    product_id = serializers.IntegerField(source="product.id")
    product_name = serializers.CharField(source="product.name")
    line_total = serializers.DecimalField(max_digits=14, decimal_places=2)

    class Meta:
        model = OrderLine
        fields = ["id", "product_id", "product_name", "quantity", "unit_price", "line_total"]


class OrderListSerializer(serializers.ModelSerializer):
    total = serializers.DecimalField(source="total_amount", max_digits=14, decimal_places=2)
    line_count = serializers.IntegerField()

    class Meta:
        model = Order
        fields = ["id", "status", "placed_at", "total", "line_count"]


def _order_payload(order: Order, lines: list[OrderLine]) -> dict:
    total = sum((line.line_total for line in lines), 0)
    return {
        "id": order.pk,
        "status": order.status,
        "placed_at": order.placed_at,
        "lines": LineSerializer(lines, many=True).data,
        "total": serializers.DecimalField(max_digits=14, decimal_places=2).to_representation(total),
    }


def _basket_payload(summary: BasketSummary) -> dict:
    return {
        "id": summary.basket.pk if summary.basket else None,
        "lines": LineSerializer(summary.lines, many=True).data,
        "line_count": len(summary.lines),
        "item_count": summary.item_count,
        "total": serializers.DecimalField(max_digits=14, decimal_places=2).to_representation(summary.total),
    }


class OrderListQuerySerializer(serializers.Serializer):
    q = serializers.CharField(required=False, default="", allow_blank=True, max_length=100)
    date_from = serializers.DateField(required=False, default=None)
    date_to = serializers.DateField(required=False, default=None)

    def validate(self, attrs: dict) -> dict:
        if attrs["date_from"] and attrs["date_to"] and attrs["date_from"] > attrs["date_to"]:
            raise serializers.ValidationError({"date_to": "Must not be before date_from."})
        return attrs


class BasketChangeSerializer(serializers.Serializer):
    """`add` adds to the line (creating it); `set` sets the line's quantity, 0 removing it."""

    product_id = serializers.IntegerField()
    quantity = serializers.IntegerField(min_value=0, max_value=services.MAX_LINE_QUANTITY)
    mode = serializers.ChoiceField(choices=["add", "set"], default="add")

    def validate_product_id(self, value: int) -> int:
        if not Product.objects.filter(pk=value).exists():
            raise serializers.ValidationError("No product with this id.")
        return value

    def validate(self, attrs: dict) -> dict:
        if attrs["mode"] == "add" and attrs["quantity"] < 1:
            raise serializers.ValidationError({"quantity": "Adding needs a quantity of at least 1."})
        return attrs


def _service_error(exc: ValidationError) -> Response:
    return Response({"detail": " ".join(exc.messages)}, status=status.HTTP_400_BAD_REQUEST)


@api_view(["GET", "POST"])
@permission_classes([IsRetailerMember])
def basket(request: Request) -> Response:
    retailer = request.user.retailer
    if request.method == "POST":
        serializer = BasketChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        product = Product.objects.get(pk=data["product_id"])
        try:
            if data["mode"] == "add":
                services.basket_add_product(retailer=retailer, product=product, quantity=data["quantity"])
            else:
                services.basket_set_product_quantity(
                    retailer=retailer, product=product, quantity=data["quantity"]
                )
        except ValidationError as exc:
            return _service_error(exc)
    return Response(_basket_payload(selectors.basket_summary(retailer=retailer)))


@api_view(["POST"])
@permission_classes([IsRetailerMember])
def basket_place(request: Request) -> Response:
    summary = selectors.basket_summary(retailer=request.user.retailer)
    if summary.basket is None:
        return Response(
            {"detail": "Your basket is empty: add products before placing the order."},
            status=status.HTTP_400_BAD_REQUEST,
        )
    try:
        order = services.order_place(order=summary.basket)
    except ValidationError as exc:
        return _service_error(exc)
    return Response(_order_payload(order, selectors.order_lines(order=order)), status=status.HTTP_201_CREATED)


@api_view(["GET"])
@permission_classes([IsRetailerMember])
def basket_suggestions(request: Request) -> Response:
    raw_limit = request.query_params.get("limit", "5")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= SUGGESTION_LIMIT_MAX:
        return Response(
            {"limit": [f"Must be a whole number from 1 to {SUGGESTION_LIMIT_MAX}."]},
            status=status.HTTP_400_BAD_REQUEST,
        )
    retailer = request.user.retailer
    summary = selectors.basket_summary(retailer=retailer)
    suggestions = basket_completion(retailer=retailer, product_ids=summary.product_ids, limit=int(raw_limit))
    return Response(
        {
            "results": [
                {
                    "product_id": suggestion.product.pk,
                    "product_name": suggestion.product.name,
                    "unit_price": str(suggestion.product.unit_price),
                    "score": suggestion.score,
                    "explanation": suggestion.explanation,
                }
                for suggestion in suggestions
                if suggestion.product.is_active
            ]
        }
    )


@api_view(["GET"])
@permission_classes([IsRetailerMember])
def order_list(request: Request) -> Response:
    """Placed orders, newest first; `q` searches order numbers and product names, `date_from`/`date_to`
    (YYYY-MM-DD, inclusive) bound the day it was placed."""
    filters = OrderListQuerySerializer(data=request.query_params)
    filters.is_valid(raise_exception=True)
    orders = selectors.orders_for_retailer(
        retailer=request.user.retailer,
        query=filters.validated_data["q"],
        date_from=filters.validated_data["date_from"],
        date_to=filters.validated_data["date_to"],
    )
    paginator = PageNumberPagination()
    page = paginator.paginate_queryset(orders, request)
    return paginator.get_paginated_response(OrderListSerializer(page, many=True).data)


@api_view(["GET"])
@permission_classes([IsRetailerMember])
def order_detail(request: Request, order_id: int) -> Response:
    order = selectors.order_for_retailer(retailer=request.user.retailer, order_id=order_id)
    if order is None:
        raise Http404("No such order")
    return Response(_order_payload(order, selectors.order_lines(order=order)))
