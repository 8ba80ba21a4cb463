from django.db import models
from django.db.models import Q


class Vendor(models.Model):
    """A supplier whose products retailers order through the platform."""

    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=200, unique=True)
    contact_email = models.EmailField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


# --- Rollups: the vendor pages sum these instead of joining order lines to orders, retailers and products
# on every request (a year of Online Retail lines joined live takes about 0.4 s; a page must take 0.15 s).
# They are rebuilt per vendor from placed orders by vendors.services (hourly, after an import and a retrain),
# so every figure is "as of" VendorAnalytics.as_of, which the pages show.


class SalesFact(models.Model):
    """Placed sales of one product to one retailer on one day, with the retailer's region, segment, size."""

    vendor = models.ForeignKey(Vendor, on_delete=models.CASCADE, related_name="+", db_index=False)
    product = models.ForeignKey("catalog.Product", on_delete=models.CASCADE, related_name="+", db_index=False)
    category = models.ForeignKey(
        "catalog.Category", null=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    retailer = models.ForeignKey(
        "accounts.Retailer", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    region = models.CharField(max_length=100)
    segment = models.CharField(max_length=20)
    size = models.CharField(max_length=10)
    day = models.DateField()
    units = models.BigIntegerField()
    revenue = models.DecimalField(max_digits=16, decimal_places=2)
    # Orders of that retailer on that day that contain the product.
    orders = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["vendor", "product", "retailer", "day"], name="salesfact_unique_day"
            ),
        ]
        indexes = [
            models.Index(fields=["vendor", "day"]),
            models.Index(fields=["vendor", "retailer", "day"]),
            models.Index(fields=["vendor", "category", "day"]),
        ]

    def __str__(self) -> str:
        return f"{self.day}: product {self.product_id} to retailer {self.retailer_id}"


class RetailerDay(models.Model):
    """One retailer's orders of a vendor's products on one day: order counts, which SalesFact cannot sum."""

    vendor = models.ForeignKey(Vendor, on_delete=models.CASCADE, related_name="+", db_index=False)
    retailer = models.ForeignKey(
        "accounts.Retailer", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    region = models.CharField(max_length=100)
    segment = models.CharField(max_length=20)
    size = models.CharField(max_length=10)
    day = models.DateField()
    # Orders containing at least one of the vendor's products, and what those lines add up to.
    orders = models.PositiveIntegerField()
    units = models.BigIntegerField()
    revenue = models.DecimalField(max_digits=16, decimal_places=2)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["vendor", "retailer", "day"], name="retailerday_unique_day"),
        ]
        indexes = [models.Index(fields=["vendor", "day"])]

    def __str__(self) -> str:
        return f"{self.day}: retailer {self.retailer_id}, {self.orders} orders"


class ProductPeriod(models.Model):
    """One product's figures over a preset period ending at VendorAnalytics.as_of and over the period before.

    Precomputed because the product dimension is the one a page cannot sum fast enough for the long periods (a
    year of one large vendor is hundreds of thousands of SalesFact rows); custom ranges read SalesFact.
    """

    vendor = models.ForeignKey(Vendor, on_delete=models.CASCADE, related_name="+", db_index=False)
    product = models.ForeignKey("catalog.Product", on_delete=models.CASCADE, related_name="+", db_index=False)
    category = models.ForeignKey(
        "catalog.Category", null=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    days = models.PositiveSmallIntegerField()
    units = models.BigIntegerField()
    revenue = models.DecimalField(max_digits=16, decimal_places=2)
    orders = models.PositiveIntegerField()
    retailers = models.PositiveIntegerField()
    previous_units = models.BigIntegerField()
    previous_revenue = models.DecimalField(max_digits=16, decimal_places=2)
    previous_retailers = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["vendor", "days", "product"], name="productperiod_unique_product"
            ),
        ]

    def __str__(self) -> str:
        return f"Product {self.product_id}, last {self.days} days: {self.units} units"


# --- Forecasts: computed by a Celery task (vendors.tasks), never on a request path; the pages read the run
# that VendorAnalytics.forecast_run points at, so a new run goes live by flipping that one pointer.


class ForecastRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    vendor = models.ForeignKey(Vendor, on_delete=models.CASCADE, related_name="forecast_runs")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The last full week (its Monday) the models saw; the forecast starts the week after.
    last_week = models.DateField(null=True, blank=True)
    horizon = models.PositiveSmallIntegerField(default=8)
    series = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(null=True, blank=True)
    # The rolling-origin backtest over the vendor's series: {method: {"wape", "mase", "bias", "coverage@80",
    # "coverage@95", "seconds"}, ...} plus {"protocol": {...}}.
    backtest = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        get_latest_by = "started_at"

    def __str__(self) -> str:
        return f"Forecast run #{self.pk} of {self.vendor} ({self.status})"


class ProductForecast(models.Model):
    """The chosen method's forecast of one series: a product, or the vendor's total (product is null)."""

    run = models.ForeignKey(ForecastRun, on_delete=models.CASCADE, related_name="forecasts")
    product = models.ForeignKey(
        "catalog.Product", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    method = models.CharField(max_length=40)
    method_label = models.CharField(max_length=80)
    # One sentence made only from the numbers below (the backtest), shown on the pages as the "why".
    reason = models.TextField()
    naive_fallback = models.BooleanField(default=False)
    backtest_wape = models.FloatField(null=True, blank=True)
    naive_wape = models.FloatField(null=True, blank=True)
    backtest_windows = models.PositiveSmallIntegerField(default=0)
    candidates = models.JSONField(default=dict, blank=True)
    # [{"week": "YYYY-MM-DD", "point", "lo80", "hi80", "lo95", "hi95"}, ...] for the horizon, in order.
    weeks = models.JSONField(default=list)
    # Sums over the horizon, for sorting and totals without reading the JSON.
    horizon_units = models.FloatField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["run", "product"],
                condition=Q(product__isnull=False),
                name="productforecast_unique_product",
            ),
            models.UniqueConstraint(
                fields=["run"], condition=Q(product__isnull=True), name="productforecast_one_total_per_run"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.method_label} forecast of {self.product_id or 'the total'} (run {self.run_id})"


class VendorAnalytics(models.Model):
    """Where one vendor's precomputed figures stand: the rollups' as-of day and the live forecast run."""

    vendor = models.OneToOneField(Vendor, on_delete=models.CASCADE, related_name="analytics")
    # The last day the rollups include (the day of the latest placed order at refresh time).
    as_of = models.DateField(null=True, blank=True)
    rollups_refreshed_at = models.DateTimeField(null=True, blank=True)
    forecast_run = models.ForeignKey(
        ForecastRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name_plural = "vendor analytics"

    def __str__(self) -> str:
        return f"Analytics of {self.vendor} as of {self.as_of}"
