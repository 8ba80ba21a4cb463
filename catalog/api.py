"""Catalogue JSON for the mobile app: the same search as the portal, scoped to the signed-in retailer."""

from rest_framework import permissions, serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.forms import ProductFilterForm
from catalog.models import Product
from catalog.selectors import product_search


class IsRetailerMember(permissions.BasePermission):
    """Only members of a retailer have a basket and orders; vendors and staff get 403."""

    message = "Only retailer accounts can use this endpoint."

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_retailer_member and user.retailer_id)


class ProductSerializer(serializers.ModelSerializer):
    vendor = serializers.CharField(source="vendor.name")
    category = serializers.CharField(source="category.name", default=None)
    bought_before = serializers.BooleanField(default=False)
    in_basket = serializers.IntegerField(default=None)

    class Meta:
        model = Product
        fields = [
            "id",
            "sku",
            "name",
            "description",
            "vendor",
            "category",
            "unit_price",
            "pack_size",
            "is_active",
            "bought_before",
            "in_basket",
        ]


@api_view(["GET"])
@permission_classes([IsRetailerMember])
def product_list(request: Request) -> Response:
    """Query parameters as on /catalogue/: q, category, vendor, min_price, max_price, bought, sort, page."""
    form = ProductFilterForm(request.query_params)
    products = product_search(retailer=request.user.retailer, filters=form.to_filters())
    paginator = PageNumberPagination()
    page = paginator.paginate_queryset(products, request)
    return paginator.get_paginated_response(ProductSerializer(page, many=True).data)
