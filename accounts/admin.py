from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest

from accounts.models import EmailDelivery, Retailer, User
from orders.models import Order


def count_subquery(queryset: QuerySet, outer_field: str = "pk") -> Coalesce:
    """COUNT(*) of `queryset` rows pointing at the outer row, as a correlated subquery.

    Two Count() annotations over different reverse joins multiply each other's rows; a subquery per count
    stays exact and lets PostgreSQL evaluate it only for the page of rows shown.
    """
    counted = queryset.values(outer_field).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


@admin.register(Retailer)
class RetailerAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "city",
        "country",
        "segment",
        "size",
        "member_count",
        "placed_order_count",
        "created_at",
    ]
    list_filter = ["segment", "size", "country"]
    search_fields = ["name", "external_ref", "city", "region"]
    readonly_fields = ["created_at", "member_count", "placed_order_count"]
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Retailer]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                member_total=count_subquery(User.objects.filter(retailer=OuterRef("pk")), "retailer"),
                placed_order_total=count_subquery(
                    Order.objects.filter(retailer=OuterRef("pk"), status=Order.Status.PLACED), "retailer"
                ),
            )
        )

    @admin.display(description="members", ordering="member_total")
    def member_count(self, retailer: Retailer) -> int:
        return retailer.member_total

    @admin.display(description="placed orders", ordering="placed_order_total")
    def placed_order_count(self, retailer: Retailer) -> int:
        return retailer.placed_order_total


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = [
        "username",
        "email",
        "first_name",
        "last_name",
        "role",
        "organisation",
        "is_active",
        "last_login",
    ]
    list_filter = ["role", "is_active", "is_staff", "is_superuser"]
    search_fields = ["username", "email", "first_name", "last_name", "retailer__name", "vendor__name"]
    list_select_related = ["retailer", "vendor"]
    autocomplete_fields = ["retailer", "vendor"]
    fieldsets = (
        *DjangoUserAdmin.fieldsets,
        ("Organisation", {"fields": ("role", "retailer", "vendor")}),
        ("Preferences", {"fields": ("items_per_page", "email_opt_in", "email_order_confirmations")}),
    )
    add_fieldsets = (
        *DjangoUserAdmin.add_fieldsets,
        ("Organisation", {"fields": ("email", "role", "retailer", "vendor")}),
    )

    @admin.display(description="organisation")
    def organisation(self, user: User) -> str:
        return str(user.retailer or user.vendor or "—")


@admin.register(EmailDelivery)
class EmailDeliveryAdmin(admin.ModelAdmin):
    """What was mailed to whom: written only by the mail tasks, so staff read it."""

    list_display = ("sent_at", "kind", "key", "to_email", "subject")
    list_filter = ("kind",)
    search_fields = ("to_email", "key", "user__username")
    readonly_fields = ("kind", "user", "key", "to_email", "subject", "sent_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: EmailDelivery | None = None) -> bool:
        return False
