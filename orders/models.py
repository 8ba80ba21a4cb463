from decimal import Decimal

from django.db import models
from django.db.models import F, Q, Sum

# The most of one product a basket line may hold (the portal's form, the API and the services enforce it).
MAX_LINE_QUANTITY = 9999


class Order(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Basket"
        PLACED = "placed", "Placed"
        CANCELLED = "cancelled", "Cancelled"

    retailer = models.ForeignKey("accounts.Retailer", on_delete=models.PROTECT, related_name="orders")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    placed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Where an imported order came from ("online-retail", "instacart", "csv") and its key there.
    source = models.CharField(max_length=20, blank=True)
    external_ref = models.CharField(max_length=64, blank=True)
    # The retailer's own order number (#1, #2, ...), given when the order is placed (a basket has none) by
    # `order_number_allocate` or `orders_number_unnumbered`; the id stays internal (URLs, the API's `id`).
    number = models.PositiveIntegerField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-placed_at", "-id"]
        constraints = [
            # A retailer has at most one open basket; the portal relies on it to find "the" basket.
            models.UniqueConstraint(
                fields=["retailer"], condition=Q(status="draft"), name="order_one_open_basket_per_retailer"
            ),
            models.CheckConstraint(
                condition=Q(status="draft") | Q(placed_at__isnull=False), name="order_placed_has_placed_at"
            ),
            models.UniqueConstraint(
                fields=["source", "external_ref"],
                condition=~Q(external_ref=""),
                name="order_unique_external_ref_per_source",
            ),
            # The last line of defence of the numbering: two orders of one retailer never share a number.
            models.UniqueConstraint(fields=["retailer", "number"], name="order_unique_number_per_retailer"),
        ]
        indexes = [
            models.Index(fields=["retailer", "status", "-placed_at"]),
            models.Index(fields=["status", "placed_at"]),
            # The orders the bulk writers have yet to number: empty between imports, so finding them is
            # instant however many orders there are.
            models.Index(
                fields=["retailer"],
                condition=Q(number__isnull=True) & ~Q(status="draft"),
                name="order_unnumbered",
            ),
        ]

    def __str__(self) -> str:
        if self.number is None:
            # A basket has no number yet.
            return f"{self.get_status_display()} (id {self.pk})"
        return f"Order #{self.number} ({self.get_status_display()})"

    @property
    def total(self) -> Decimal:
        """Sum of the lines; views that list many orders annotate it instead of calling this."""
        result = self.lines.aggregate(total=Sum(F("quantity") * F("unit_price")))["total"]
        return result or Decimal("0.00")


class OrderNumberCounter(models.Model):
    """The last order number given to a retailer.

    Placing an order locks this row (SELECT ... FOR UPDATE) until its transaction commits, so two orders
    placed at once by one retailer are numbered one after the other; other retailers are not held up.
    """

    retailer = models.OneToOneField(
        "accounts.Retailer", on_delete=models.CASCADE, primary_key=True, related_name="order_number_counter"
    )
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.retailer_id}: #{self.last_number}"


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey("catalog.Product", on_delete=models.PROTECT, related_name="order_lines")
    quantity = models.PositiveIntegerField()
    # Price at the time of ordering, so later catalogue price changes never rewrite history.
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "product"], name="orderline_unique_product_per_order"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="orderline_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="orderline_price_not_negative"),
        ]
        indexes = [models.Index(fields=["product", "order"])]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.product_id}"

    @property
    def line_total(self) -> Decimal:
        return self.quantity * self.unit_price


class ImportRun(models.Model):
    """One run of `import_transactions`: what was read, what it created and which rows were rejected.

    A failed run is written after its transaction rolled back, so it records an attempt that changed nothing.
    """

    class Status(models.TextChoices):
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    source = models.CharField(max_length=20)
    path = models.CharField(max_length=500)
    # Of the file (or, for a folder, of its files in name order): tells a re-import of the same data apart.
    # Empty when a failed run could not read it.
    sha256 = models.CharField(max_length=64, blank=True)
    # Empty for a failed run whose vendor was created by the rolled-back import.
    vendor = models.ForeignKey(
        "vendors.Vendor", null=True, blank=True, on_delete=models.PROTECT, related_name="import_runs"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SUCCEEDED)
    # Why a failed run failed, as the command printed it.
    error = models.TextField(blank=True)
    # For a failed run, what had been read when it failed.
    counts = models.JSONField(default=dict)
    # The first rejected rows ({line_no, reason, raw}); `rejected_total` in counts says how many there were.
    rejected_rows = models.JSONField(default=list, blank=True)
    duration_seconds = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="succeeded", error="") | Q(status="failed") & ~Q(error=""),
                name="importrun_failed_has_error",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source} import of {self.path} ({self.created_at:%Y-%m-%d %H:%M}, {self.status})"
