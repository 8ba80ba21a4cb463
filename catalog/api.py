"""Catalogue JSON for the mobile app: the portal's own search, filters and sorting (catalog.forms and
catalog.selectors), with an invalid filter answered as a 400 instead of being dropped as the page does."""

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import permissions
from rest_framework.decorators import api_view, permission_classes
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.models import Category
from catalog.search_cache import search_page_read
from catalog.selectors import Bought, product_search
from catalog.serializers import (
    CategorySerializer,
    ProductPageSerializer,
    ProductQuerySerializer,
    ProductSerializer,
    VendorRefSerializer,
)
from smartbasket.api.errors import ErrorSerializer
from smartbasket.api.pagination import PagePagination
from vendors.models import Vendor


class IsRetailerMember(permissions.BasePermission):
    """Only members of a retailer have a basket and orders; vendors and staff get 403."""

    message = "Only retailer accounts can use this endpoint."

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_retailer_member and user.retailer_id)


PRODUCT_EXAMPLE = {
    "id": 42,
    "sku": "BW-LEM-12",
    "name": "Brightwell Value Lemonade x12",
    "description": "Sparkling lemonade, 12 x 330 ml cans.",
    "vendor": {"id": 3, "name": "Brightwell Drinks"},
    "category": {"id": 8, "name": "Soft drinks"},
    "unit_price": "6.40",
    "pack_size": 12,
    "is_active": True,
}


@extend_schema(
    operation_id="products_list",
    tags=["catalogue"],
    parameters=[ProductQuerySerializer],
    responses={200: ProductPageSerializer, 404: ErrorSerializer},
    examples=[
        OpenApiExample(
            "A page",
            value={"count": 1, "next": None, "previous": None, "results": [PRODUCT_EXAMPLE]},
            response_only=True,
        )
    ],
    description="Active products as /catalogue/ finds them: `q` matches words of the name or an exact SKU. "
    "A page past the last is a 404.",
)
@api_view(["GET"])
@permission_classes([IsRetailerMember])
def product_list(request: Request) -> HttpResponse:
    """The portal's search (catalog.selectors.product_search): two queries, the count and the page with its
    vendors and categories joined; a page without the retailer's own `bought` filter is the same for every
    retailer and served from the cache while the catalogue is unchanged (catalog/search_cache.py)."""
    query = ProductQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    filters = query.to_filters()
    paginator = PagePagination()

    def build() -> bytes:
        products = product_search(retailer=request.user.retailer, filters=filters, with_history=False)
        page = paginator.paginate_queryset(products, request)
        return JSONRenderer().render(
            paginator.get_paginated_response(ProductSerializer(page, many=True).data).data
        )

    if filters.bought != Bought.ANY:
        return HttpResponse(build(), content_type="application/json")
    # The answer depends on the URL (its query, and the host its `next` and `previous` links name) and on the
    # page size, which without `page_size` is the user's own setting.
    identity = f"{request.build_absolute_uri()} {paginator.get_page_size(request)}"
    return HttpResponse(search_page_read(identity=identity, build=build), content_type="application/json")


@extend_schema(
    operation_id="categories_list",
    tags=["catalogue"],
    responses={200: CategorySerializer(many=True)},
    examples=[
        OpenApiExample(
            "Categories", value=[{"id": 8, "name": "Soft drinks", "parent_id": 2}], response_only=True
        )
    ],
)
@api_view(["GET"])
@permission_classes([IsRetailerMember])
def category_list(request: Request) -> Response:
    """Every category, departments (parent_id null) included, for the `category` filter."""
    return Response(CategorySerializer(Category.objects.order_by("name", "id"), many=True).data)


@extend_schema(
    operation_id="vendors_list",
    tags=["catalogue"],
    responses={200: VendorRefSerializer(many=True)},
    examples=[OpenApiExample("Vendors", value=[{"id": 3, "name": "Brightwell Drinks"}], response_only=True)],
)
@api_view(["GET"])
@permission_classes([IsRetailerMember])
def vendor_list(request: Request) -> Response:
    """Every vendor, for the `vendor` filter."""
    return Response(VendorRefSerializer(Vendor.objects.order_by("name", "id"), many=True).data)
