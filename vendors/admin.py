from django.contrib import admin
from django.db.models import OuterRef, QuerySet
from django.http import HttpRequest

from accounts.admin import count_subquery
from accounts.models import User
from catalog.models import Product
from vendors.models import Vendor


@admin.register(Vendor)
class VendorAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "contact_email", "product_count", "member_count", "created_at"]
    search_fields = ["name", "slug", "contact_email"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["created_at", "product_count", "member_count"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Vendor]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                product_total=count_subquery(Product.objects.filter(vendor=OuterRef("pk")), "vendor"),
                member_total=count_subquery(User.objects.filter(vendor=OuterRef("pk")), "vendor"),
            )
        )

    @admin.display(description="products", ordering="product_total")
    def product_count(self, vendor: Vendor) -> int:
        return vendor.product_total

    @admin.display(description="members", ordering="member_total")
    def member_count(self, vendor: Vendor) -> int:
        return vendor.member_total
