"""Basket and order JSON for the mobile app, through the same services and selectors as the portal.

Every object is read through the signed-in retailer: another retailer's order, or a product that is not in
this retailer's basket, is a 404, never another retailer's data.
"""

from django.core.exceptions import ValidationError as ServiceError
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Retailer
from catalog.api import PRODUCT_EXAMPLE, IsRetailerMember
from orders import selectors, services
from orders.models import Order
from orders.serializers import (
    BasketAddSerializer,
    BasketSerializer,
    BasketSetSerializer,
    OrderListQuerySerializer,
    OrderPageSerializer,
    OrderSerializer,
    OrderSummarySerializer,
    ReorderSerializer,
)
from smartbasket.api.errors import ErrorSerializer
from smartbasket.api.pagination import PagePagination

LINE_EXAMPLE = {
    "product": PRODUCT_EXAMPLE,
    "quantity": 2,
    "unit_price": "6.40",
    "line_total": "12.80",
    "available": True,
}
BASKET_EXAMPLE = OpenApiExample(
    "A basket",
    value={
        "id": 311,
        "lines": [LINE_EXAMPLE],
        "line_count": 1,
        "item_count": 2,
        "total": "12.80",
        "has_unavailable": False,
    },
    response_only=True,
)
ORDER_EXAMPLE = OpenApiExample(
    "An order",
    value={
        "id": 310,
        "number": 42,
        "status": "placed",
        "placed_at": "2026-11-20T09:14:00Z",
        "lines": [LINE_EXAMPLE],
        "line_count": 1,
        "total": "12.80",
    },
    response_only=True,
)


# Actions that take no input document an optional JSON object (send nothing or `{}`); its members are ignored.
NO_BODY = {"application/json": OpenApiTypes.OBJECT}


def _basket(retailer: Retailer, *, status_code: int = status.HTTP_200_OK) -> Response:
    return Response(BasketSerializer(selectors.basket_summary(retailer=retailer)).data, status=status_code)


def _order(order: Order, *, status_code: int = status.HTTP_200_OK) -> Response:
    data = {"order": order, "lines": selectors.order_lines(order=order)}
    return Response(OrderSerializer(data).data, status=status_code)


def _service_error(exc: ServiceError) -> ValidationError:
    return ValidationError({"non_field_errors": exc.messages})


@extend_schema(tags=["basket"], methods=["GET"], responses={200: BasketSerializer}, examples=[BASKET_EXAMPLE])
@extend_schema(
    tags=["basket"],
    methods=["DELETE"],
    responses={200: BasketSerializer},
    examples=[
        OpenApiExample(
            "Emptied",
            value={**BASKET_EXAMPLE.value, "lines": [], "line_count": 0, "item_count": 0, "total": "0.00"},
            response_only=True,
        )
    ],
    description="Empty the basket; the answer is the (empty) basket.",
)
@api_view(["GET", "DELETE"])
@permission_classes([IsRetailerMember])
def basket(request: Request) -> Response:
    """The retailer's basket; `id` is null until something is first added."""
    retailer = request.user.retailer
    if request.method == "DELETE":
        services.basket_clear(retailer=retailer)
    return _basket(retailer)


@extend_schema(
    tags=["basket"],
    request=BasketAddSerializer,
    responses={201: BasketSerializer},
    examples=[
        OpenApiExample("Add two", value={"product_id": 42, "quantity": 2}, request_only=True),
        BASKET_EXAMPLE,
    ],
    description="Add to the product's line (creating it); the answer is the whole basket.",
)
@api_view(["POST"])
@permission_classes([IsRetailerMember])
def basket_items(request: Request) -> Response:
    serializer = BasketAddSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    try:
        services.basket_add_product(
            retailer=request.user.retailer,
            product=serializer.validated_data["product"],
            quantity=serializer.validated_data["quantity"],
        )
    except ServiceError as exc:
        raise _service_error(exc) from exc
    return _basket(request.user.retailer, status_code=status.HTTP_201_CREATED)


@extend_schema(
    tags=["basket"],
    methods=["PUT"],
    request=BasketSetSerializer,
    responses={200: BasketSerializer},
    examples=[OpenApiExample("Set to five", value={"quantity": 5}, request_only=True), BASKET_EXAMPLE],
    description="Set the line's quantity; 0 removes it.",
)
@extend_schema(
    tags=["basket"], methods=["DELETE"], responses={200: BasketSerializer}, examples=[BASKET_EXAMPLE]
)
@api_view(["PUT", "DELETE"])
@permission_classes([IsRetailerMember])
def basket_item(request: Request, product_id: int) -> Response:
    """One product's line in the basket: a product that is not in this retailer's basket is a 404."""
    retailer = request.user.retailer
    summary = selectors.basket_summary(retailer=retailer)
    line = next((line for line in summary.lines if line.product_id == product_id), None)
    if line is None:
        raise Http404("This product is not in your basket.")
    try:
        if request.method == "DELETE":
            services.basket_remove_line(line=line)
        else:
            serializer = BasketSetSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            services.basket_set_quantity(line=line, quantity=serializer.validated_data["quantity"])
    except ServiceError as exc:
        raise _service_error(exc) from exc
    return _basket(retailer)


@extend_schema(tags=["basket"], request=NO_BODY, responses={201: OrderSerializer}, examples=[ORDER_EXAMPLE])
@api_view(["POST"])
@permission_classes([IsRetailerMember])
def basket_place(request: Request) -> Response:
    """Place the basket as an order at today's prices."""
    summary = selectors.basket_summary(retailer=request.user.retailer)
    if summary.basket is None:
        raise ValidationError(
            {"non_field_errors": ["Your basket is empty: add products before placing the order."]}
        )
    try:
        order = services.order_place(order=summary.basket)
    except ServiceError as exc:
        raise _service_error(exc) from exc
    return _order(order, status_code=status.HTTP_201_CREATED)


@extend_schema(
    operation_id="orders_list",
    tags=["orders"],
    parameters=[OrderListQuerySerializer],
    responses={200: OrderPageSerializer, 404: ErrorSerializer},
    examples=[
        OpenApiExample(
            "Orders",
            value={
                "count": 1,
                "next": None,
                "previous": None,
                "results": [
                    {
                        "id": 310,
                        "status": "placed",
                        "placed_at": "2026-11-20T09:14:00Z",
                        "total": "12.80",
                        "line_count": 1,
                    }
                ],
            },
            response_only=True,
        )
    ],
)
@api_view(["GET"])
@permission_classes([IsRetailerMember])
def order_list(request: Request) -> Response:
    """Placed and cancelled orders, newest first, as /orders/ lists them; a page past the last is a 404."""
    filters = OrderListQuerySerializer(data=request.query_params)
    filters.is_valid(raise_exception=True)
    orders = selectors.orders_for_retailer(
        retailer=request.user.retailer,
        query=filters.validated_data["q"],
        date_from=filters.validated_data["date_from"],
        date_to=filters.validated_data["date_to"],
        status=filters.validated_data["status"],
    )
    paginator = PagePagination()
    page = paginator.paginate_queryset(orders, request)
    return paginator.get_paginated_response(OrderSummarySerializer(page, many=True).data)


def _own_order(request: Request, order_id: int) -> Order:
    order = selectors.order_for_retailer(retailer=request.user.retailer, order_id=order_id)
    if order is None:
        raise Http404("No such order.")
    return order


@extend_schema(tags=["orders"], responses={200: OrderSerializer}, examples=[ORDER_EXAMPLE])
@api_view(["GET"])
@permission_classes([IsRetailerMember])
def order_detail(request: Request, order_id: int) -> Response:
    return _order(_own_order(request, order_id))


@extend_schema(
    tags=["orders"],
    request=NO_BODY,
    responses={200: ReorderSerializer},
    examples=[
        OpenApiExample(
            "Order again",
            value={
                "added": [PRODUCT_EXAMPLE],
                "skipped": [
                    {"product": {**PRODUCT_EXAMPLE, "id": 57, "is_active": False}, "reason": "discontinued"}
                ],
                "basket": BASKET_EXAMPLE.value,
            },
            response_only=True,
        )
    ],
    description="Order again: the order's lines are added to the basket; discontinued products are skipped "
    "and listed.",
)
@api_view(["POST"])
@permission_classes([IsRetailerMember])
def order_reorder(request: Request, order_id: int) -> Response:
    retailer = request.user.retailer
    try:
        result = services.order_reorder(retailer=retailer, order=_own_order(request, order_id))
    except ServiceError as exc:
        raise _service_error(exc) from exc
    data = ReorderSerializer.data_of(result=result, basket=selectors.basket_summary(retailer=retailer))
    return Response(ReorderSerializer(data).data)
