from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.compatibility, deploy=True)
def email_is_sent(**_: object) -> list[Warning]:
    """In production a confirmation must reach a mailbox, not the console backend's log."""
    if "console" in settings.EMAIL_BACKEND or "locmem" in settings.EMAIL_BACKEND:
        return [
            Warning(
                f"EMAIL_BACKEND is {settings.EMAIL_BACKEND}: order confirmations and reorder digests are not "
                "sent to anybody.",
                hint="Set EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, DEFAULT_FROM_EMAIL.",
                id="accounts.W001",
            )
        ]
    return []
