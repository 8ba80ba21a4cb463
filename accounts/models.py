from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models import Q


class Retailer(models.Model):
    """A shop that orders from vendors. Every retailer-side row is scoped to one of these."""

    class Segment(models.TextChoices):
        CONVENIENCE = "convenience", "Convenience store"
        GROCERY = "grocery", "Independent grocer"
        GIFT = "gift", "Gift & homeware shop"
        CAFE = "cafe", "Café & deli"
        WHOLESALE = "wholesale", "Wholesaler"
        OTHER = "other", "Other"

    class Size(models.TextChoices):
        SMALL = "small", "Small"
        MEDIUM = "medium", "Medium"
        LARGE = "large", "Large"

    name = models.CharField(max_length=200)
    # Key of the customer in an imported dataset; empty for retailers created in the portal.
    external_ref = models.CharField(max_length=64, blank=True)
    city = models.CharField(max_length=100, blank=True)
    region = models.CharField(max_length=100, blank=True)
    country = models.CharField(max_length=100, blank=True)
    segment = models.CharField(max_length=20, choices=Segment.choices, default=Segment.OTHER)
    size = models.CharField(max_length=10, choices=Size.choices, default=Size.SMALL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["external_ref"], condition=~Q(external_ref=""), name="retailer_unique_external_ref"
            ),
        ]
        indexes = [models.Index(fields=["region", "segment"])]

    def __str__(self) -> str:
        return self.name


class SmartBasketUserManager(UserManager["User"]):
    def create_superuser(
        self, username: str, email: str | None = None, password: str | None = None, **extra_fields: Any
    ) -> "User":
        # Superusers belong to no organisation; without the staff role they would break the role constraint.
        extra_fields.setdefault("role", User.Role.STAFF)
        return super().create_superuser(username, email, password, **extra_fields)


class User(AbstractUser):
    """A person who logs in: a member of one retailer, a member of one vendor, or staff."""

    class Role(models.TextChoices):
        RETAILER = "retailer", "Retailer member"
        VENDOR = "vendor", "Vendor member"
        STAFF = "staff", "Staff"

    class ItemsPerPage(models.IntegerChoices):
        TEN = 10, "10"
        TWENTY_FIVE = 25, "25"
        FIFTY = 50, "50"
        HUNDRED = 100, "100"

    role = models.CharField(max_length=10, choices=Role.choices, default=Role.RETAILER)
    retailer = models.ForeignKey(
        Retailer, null=True, blank=True, on_delete=models.PROTECT, related_name="members"
    )
    vendor = models.ForeignKey(
        "vendors.Vendor", null=True, blank=True, on_delete=models.PROTECT, related_name="members"
    )
    # Personal preferences, edited on the settings page.
    items_per_page = models.PositiveSmallIntegerField(
        choices=ItemsPerPage.choices, default=ItemsPerPage.TWENTY_FIVE
    )
    email_opt_in = models.BooleanField(
        default=False, help_text="Receive an email when products you buy regularly are due for reorder."
    )
    # Transactional, so on unless the person turns it off (settings page or a mail's unsubscribe link).
    email_order_confirmations = models.BooleanField(
        default=True, help_text="Receive an email confirming each order placed for your shop."
    )

    objects = SmartBasketUserManager()

    class Meta:
        constraints = [
            # The role and the organisation link must agree, so no view ever has to guess a tenant.
            models.CheckConstraint(
                condition=(
                    Q(role="retailer", retailer__isnull=False, vendor__isnull=True)
                    | Q(role="vendor", vendor__isnull=False, retailer__isnull=True)
                    | Q(role="staff", retailer__isnull=True, vendor__isnull=True)
                ),
                name="user_role_matches_organisation",
            ),
        ]

    @property
    def is_retailer_member(self) -> bool:
        return self.role == self.Role.RETAILER

    @property
    def is_vendor_member(self) -> bool:
        return self.role == self.Role.VENDOR


class EmailDelivery(models.Model):
    """One e-mail sent to one person: the record that makes a retried or duplicated task send nothing twice.

    `key` names what the mail is about within its kind: the order's id for a confirmation, the ISO week
    ("2026-W49") for a reorder digest.
    """

    class Kind(models.TextChoices):
        ORDER_CONFIRMATION = "order_confirmation", "Order confirmation"
        REORDER_DIGEST = "reorder_digest", "Reorder digest"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="email_deliveries"
    )
    key = models.CharField(max_length=40)
    to_email = models.EmailField()
    subject = models.CharField(max_length=200)
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-sent_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "user", "key"], name="emaildelivery_once_per_kind_user_key"
            )
        ]
        verbose_name_plural = "email deliveries"

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.key} to {self.to_email}"
