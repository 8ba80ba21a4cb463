from django.contrib import admin
from django.db.models import IntegerField, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import HttpRequest

from accounts.admin import count_subquery
from catalog.models import Category, Product
from orders.models import Order, OrderLine


class TopLevelCategoryFilter(admin.SimpleListFilter):
    """Filter by department (top-level category), including the categories inside it."""

    title = "department"
    parameter_name = "department"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [
            (str(pk), name) for pk, name in Category.objects.filter(parent=None).values_list("pk", "name")
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if not self.value():
            return queryset
        field = "category" if queryset.model is Product else "pk"
        parent_field = "category__parent" if queryset.model is Product else "parent"
        return queryset.filter(**{field: self.value()}) | queryset.filter(**{parent_field: self.value()})


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "parent", "product_count"]
    list_filter = [TopLevelCategoryFilter]
    search_fields = ["name", "parent__name"]
    list_select_related = ["parent"]
    autocomplete_fields = ["parent"]
    readonly_fields = ["product_count"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Category]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                product_total=count_subquery(Product.objects.filter(category=OuterRef("pk")), "category")
            )
        )

    @admin.display(description="products", ordering="product_total")
    def product_count(self, category: Category) -> int:
        return category.product_total


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "sku",
        "vendor",
        "category",
        "unit_price",
        "pack_size",
        "is_active",
        "units_sold",
        "created_at",
    ]
    list_filter = ["is_active", TopLevelCategoryFilter, "vendor"]
    search_fields = ["name", "sku", "vendor__name"]
    list_select_related = ["vendor", "category__parent"]
    autocomplete_fields = ["vendor", "category"]
    readonly_fields = ["units_sold"]
    list_editable = ["is_active"]
    date_hierarchy = "created_at"
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Product]:
        sold = (
            OrderLine.objects.filter(product=OuterRef("pk"), order__status=Order.Status.PLACED)
            .values("product")
            .annotate(total=Sum("quantity"))
            .values("total")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(units_sold_total=Coalesce(Subquery(sold, output_field=IntegerField()), 0))
        )

    @admin.display(description="units sold", ordering="units_sold_total")
    def units_sold(self, product: Product) -> int:
        return product.units_sold_total
