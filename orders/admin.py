from decimal import Decimal

from django.contrib import admin
from django.db.models import Count, DecimalField, F, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.http import HttpRequest

from orders.models import ImportRun, Order, OrderLine
from orders.services import order_number_allocate
from recommendations.interface import human_duration

_MONEY = DecimalField(max_digits=14, decimal_places=2)
_CENT = Decimal("0.01")
ERROR_SHOWN = 120


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    autocomplete_fields = ["product"]
    readonly_fields = ["line_total"]
    fields = ["product", "quantity", "unit_price", "line_total"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[OrderLine]:
        return super().get_queryset(request).select_related("product")

    @admin.display(description="line total")
    def line_total(self, line: OrderLine) -> Decimal | str:
        return line.line_total if line.pk else "—"


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["order_number", "retailer", "status", "placed_at", "line_count", "order_total", "source"]
    list_filter = ["status", "source"]
    search_fields = ["=number", "=id", "retailer__name", "external_ref"]
    list_select_related = ["retailer"]
    autocomplete_fields = ["retailer"]
    readonly_fields = ["number", "created_at", "updated_at", "line_count", "order_total"]
    date_hierarchy = "placed_at"
    inlines = [OrderLineInline]
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Order]:
        # Both figures come from the same join over lines, so one GROUP BY computes them without N+1.
        return (
            super()
            .get_queryset(request)
            .annotate(
                line_total_count=Count("lines"),
                total_amount=Coalesce(
                    Sum(F("lines__quantity") * F("lines__unit_price"), output_field=_MONEY),
                    Decimal("0.00"),
                    output_field=_MONEY,
                ),
            )
        )

    def save_model(self, request: HttpRequest, obj: Order, form, change: bool) -> None:
        # An order that staff add as placed, or mark placed, is numbered as placing it in the portal would.
        if obj.status != Order.Status.DRAFT and obj.number is None:
            obj.number = order_number_allocate(retailer_id=obj.retailer_id)
        super().save_model(request, obj, form, change)

    @admin.display(description="order", ordering="number")
    def order_number(self, order: Order) -> str:
        # The retailer's number, as its portal shows it; a basket has none.
        return "basket" if order.number is None else f"#{order.number}"

    @admin.display(description="lines", ordering="line_total_count")
    def line_count(self, order: Order) -> int:
        return order.line_total_count

    @admin.display(description="total", ordering="total_amount")
    def order_total(self, order: Order) -> Decimal:
        # SQLite (the embedded demo) computes the sum in floating point; show money as money.
        return Decimal(order.total_amount).quantize(_CENT)


@admin.register(OrderLine)
class OrderLineAdmin(admin.ModelAdmin):
    list_display = ["id", "order", "retailer", "product", "vendor", "quantity", "unit_price", "line_total"]
    list_filter = ["order__status"]
    search_fields = ["product__name", "product__sku", "order__retailer__name", "=order__number", "=order__id"]
    list_select_related = ["order__retailer", "product__vendor"]
    raw_id_fields = ["order"]
    autocomplete_fields = ["product"]
    readonly_fields = ["line_total"]
    show_full_result_count = False

    @admin.display(description="retailer", ordering="order__retailer__name")
    def retailer(self, line: OrderLine) -> str:
        return line.order.retailer.name

    @admin.display(description="vendor", ordering="product__vendor__name")
    def vendor(self, line: OrderLine) -> str:
        return line.product.vendor.name

    @admin.display(description="line total")
    def line_total(self, line: OrderLine) -> Decimal | str:
        # The add form shows this read-only field before the line has a quantity or a price.
        return line.line_total if line.pk else "—"


@admin.register(ImportRun)
class ImportRunAdmin(admin.ModelAdmin):
    """Import runs are an audit trail written by `import_transactions`; staff read them, never edit them."""

    list_display = [
        "created_at",
        "status",
        "source",
        "vendor",
        "path",
        "took",
        "orders_created",
        "rejected",
        "error_summary",
    ]
    list_filter = ["status", "source", "vendor"]
    search_fields = ["path", "sha256", "error"]
    # The page shows how long the import took in minutes and seconds instead of the raw float.
    exclude = ["duration_seconds"]
    readonly_fields = ["took"]
    list_select_related = ["vendor"]
    date_hierarchy = "created_at"

    def get_queryset(self, request: HttpRequest) -> QuerySet[ImportRun]:
        # The rejected-row samples can be large; the list never shows them, the detail page loads them.
        return super().get_queryset(request).defer("rejected_rows")

    @admin.display(description="took", ordering="duration_seconds")
    def took(self, run: ImportRun) -> str:
        return human_duration(run.duration_seconds)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ImportRun | None = None) -> bool:
        return False

    @admin.display(description="orders created")
    def orders_created(self, run: ImportRun) -> int | str:
        return run.counts.get("orders_created", "—")

    @admin.display(description="rejected rows")
    def rejected(self, run: ImportRun) -> int | str:
        return run.counts.get("rejected_total", "—")

    @admin.display(description="error")
    def error_summary(self, run: ImportRun) -> str:
        # The full reason is on the detail page; the list keeps one short line per run.
        if len(run.error) <= ERROR_SHOWN:
            return run.error or "—"
        return run.error[:ERROR_SHOWN] + "…"
