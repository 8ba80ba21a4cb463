from django.conf import settings
from django.db import models


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
