"""The catalogue's API shapes. A product is always this one object, wherever an API answer contains one."""

from decimal import Decimal
from typing import Any

from rest_framework import serializers

from catalog.forms import ProductFilterForm
from catalog.models import Category, Product
from catalog.selectors import Bought, ProductFilters, Sort
from smartbasket.api.pagination import MAX_PAGE_SIZE
from smartbasket.api.parameters import ParametersSerializer
from vendors.models import Vendor


class CategoryRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = ["id", "name"]


class VendorRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Vendor
        fields = ["id", "name"]


class ProductSerializer(serializers.ModelSerializer):
    """Read with `select_related("vendor", "category")` so a list costs one query."""

    vendor = VendorRefSerializer(read_only=True)
    category = CategoryRefSerializer(read_only=True, allow_null=True)

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
        ]
        read_only_fields = fields


class CategorySerializer(serializers.ModelSerializer):
    """A category of the flat tree: departments have `parent_id` null."""

    class Meta:
        model = Category
        fields = ["id", "name", "parent_id"]
        read_only_fields = fields


class PageSerializer(serializers.Serializer):
    """The envelope of every paginated list (smartbasket.api.pagination.PagePagination)."""

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)


class ProductPageSerializer(PageSerializer):
    results = ProductSerializer(many=True)


_FORM_FIELDS = ProductFilterForm.base_fields


class ProductQuerySerializer(ParametersSerializer):
    """The catalogue's query string, with the portal form's limits and choices; unlike the page, which drops
    an invalid value, the API answers it with a 400 so an app never shows a silently unfiltered list."""

    q = serializers.CharField(
        required=False, default="", allow_blank=True, max_length=_FORM_FIELDS["q"].max_length
    )
    category = serializers.PrimaryKeyRelatedField(
        queryset=Category.objects.all(),
        required=False,
        default=None,
        allow_null=True,
        help_text="A category id (see /categories/); a department includes its categories.",
    )
    vendor = serializers.PrimaryKeyRelatedField(
        queryset=Vendor.objects.all(),
        required=False,
        default=None,
        allow_null=True,
        help_text="A vendor id (see /vendors/).",
    )
    min_price = serializers.DecimalField(
        max_digits=10, decimal_places=2, min_value=Decimal("0"), required=False, default=None
    )
    max_price = serializers.DecimalField(
        max_digits=10, decimal_places=2, min_value=Decimal("0"), required=False, default=None
    )
    bought = serializers.ChoiceField(
        choices=_FORM_FIELDS["bought"].choices, required=False, default=Bought.ANY
    )
    sort = serializers.ChoiceField(choices=_FORM_FIELDS["sort"].choices, required=False, default=Sort.NAME)
    page = serializers.IntegerField(required=False, min_value=1)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=MAX_PAGE_SIZE)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        low, high = attrs["min_price"], attrs["max_price"]
        if low is not None and high is not None and low > high:
            raise serializers.ValidationError({"max_price": ["Must not be below min_price."]})
        return attrs

    def to_filters(self) -> ProductFilters:
        data = self.validated_data
        return ProductFilters(
            query=data["q"].strip(),
            category_id=data["category"].pk if data["category"] else None,
            vendor_id=data["vendor"].pk if data["vendor"] else None,
            min_price=data["min_price"],
            max_price=data["max_price"],
            bought=data["bought"],
            sort=data["sort"],
        )
