"""The e-mails themselves: a subject, a plain-text and an HTML part from templates/emails/, and the
unsubscribe link in the body and in the List-Unsubscribe headers (RFC 2369, one-click per RFC 8058)."""

from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from accounts.mail.selectors import DIGEST_HORIZON_DAYS
from accounts.mail.unsubscribe import unsubscribe_token
from accounts.models import EmailDelivery, User
from orders.models import Order
from recommendations import dashboard
from recommendations.models import ReorderPrediction


def absolute_url(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def _message(*, user: User, kind: str, template: str, context: dict[str, Any]) -> EmailMultiAlternatives:
    unsubscribe_url = absolute_url(
        reverse("accounts:unsubscribe", args=[unsubscribe_token(user_id=user.pk, kind=kind)])
    )
    context = {
        **context,
        "user": user,
        "site_url": settings.SITE_URL,
        "settings_url": absolute_url(reverse("accounts:settings")),
        "unsubscribe_url": unsubscribe_url,
    }
    # A subject is one line whatever the template's layout.
    subject = " ".join(render_to_string(f"emails/{template}_subject.txt", context).split())
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"emails/{template}.txt", context),
        to=[user.email],
        headers={
            "List-Unsubscribe": f"<{unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    message.attach_alternative(render_to_string(f"emails/{template}.html", context), "text/html")
    return message


def order_confirmation_message(*, user: User, order: Order) -> EmailMultiAlternatives:
    return _message(
        user=user,
        kind=EmailDelivery.Kind.ORDER_CONFIRMATION,
        template="order_confirmation",
        context={
            "order": order,
            "lines": list(order.lines.all()),
            "order_url": absolute_url(reverse("orders:detail", args=[order.pk])),
        },
    )


def reorder_digest_message(
    *, user: User, items: list[ReorderPrediction], today: date
) -> EmailMultiAlternatives:
    return _message(
        user=user,
        kind=EmailDelivery.Kind.REORDER_DIGEST,
        template="reorder_digest",
        context={
            "retailer": user.retailer,
            # The dashboard's due items: the same sentence, counted to the same day, as its "Why?" shows.
            "items": [dashboard.due_item(row, basket_quantity=0, today=today) for row in items],
            "overdue": sum(1 for item in items if item.expected_date <= today),
            "today": today,
            "until": today + timedelta(days=DIGEST_HORIZON_DAYS),
            "dashboard_url": absolute_url(reverse("recommendations:dashboard")),
        },
    )
