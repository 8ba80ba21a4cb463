from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper


class Category(models.Model):
    """Two-level tree: top-level departments and their categories."""

    name = models.CharField(max_length=120)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"
        constraints = [
            models.UniqueConstraint(fields=["parent", "name"], name="category_unique_name_in_parent"),
            models.UniqueConstraint(
                fields=["name"], condition=Q(parent__isnull=True), name="category_unique_top_level_name"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.parent.name} / {self.name}" if self.parent_id else self.name


class Product(models.Model):
    vendor = models.ForeignKey("vendors.Vendor", on_delete=models.PROTECT, related_name="products")
    sku = models.CharField(max_length=64)
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.SET_NULL, related_name="products"
    )
    unit_price = models.DecimalField(
        max_digits=10, decimal_places=2, validators=[MinValueValidator(Decimal("0"))]
    )
    pack_size = models.PositiveIntegerField(default=1)
    is_active = models.BooleanField(default=True)
    # When the product first appeared in the catalogue (for imports: its first sale).
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["vendor", "sku"], name="product_unique_sku_per_vendor"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="product_price_not_negative"),
            models.CheckConstraint(condition=Q(pack_size__gte=1), name="product_pack_size_positive"),
        ]
        indexes = [
            models.Index(fields=["is_active", "category"]),
            models.Index(fields=["vendor", "is_active"]),
            models.Index(fields=["created_at"]),
            models.Index(fields=["name"]),
            # The search's exact SKU match (`UPPER(sku) = UPPER(term)`). Its name match, a substring, is
            # served on PostgreSQL by a trigram index that migration 0002 adds outside the model state
            # (SQLite has no GIN).
            models.Index(Upper("sku"), name="product_sku_upper"),
        ]

    def __str__(self) -> str:
        return self.name
