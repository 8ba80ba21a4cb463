from django.contrib import admin
from django.http import HttpRequest

from notifications.models import EmailDelivery


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
