"""Reads for the e-mails: who gets which mail, and what it lists."""

from datetime import date, timedelta

from django.db.models import F, QuerySet, Sum

from accounts.models import EmailDelivery, Retailer, User
from orders.models import Order
from recommendations.models import ReorderPrediction
from recommendations.selectors import active_version

# The digest lists what falls due before the next one is sent, overdue items included.
DIGEST_HORIZON_DAYS = 7
# As many as the dashboard's "due for reorder" list holds (recommendations/dashboard.py DUE_LIMIT).
DIGEST_LIMIT = 12


def _members_with_email() -> QuerySet[User]:
    return User.objects.filter(role=User.Role.RETAILER, is_active=True).exclude(email="")


def order_confirmation_recipients(*, retailer_id: int) -> QuerySet[User]:
    """The shop's members who keep "email me a confirmation of each order" on."""
    return _members_with_email().filter(retailer_id=retailer_id, email_order_confirmations=True)


def reorder_digest_recipients() -> QuerySet[User]:
    """Every retailer member who opted in to "email me when regular products are due for reorder"."""
    return _members_with_email().filter(email_opt_in=True).select_related("retailer")


def users_sent(*, kind: str, key: str) -> QuerySet[EmailDelivery]:
    return EmailDelivery.objects.filter(kind=kind, key=key)


def order_for_confirmation(*, order_id: int) -> Order | None:
    """A placed order with its retailer, lines, products and total; None unless it is placed."""
    return (
        Order.objects.filter(pk=order_id, status=Order.Status.PLACED)
        .select_related("retailer")
        .prefetch_related("lines__product__vendor")
        .annotate(total_amount=Sum(F("lines__quantity") * F("lines__unit_price")))
        .first()
    )


def reorder_digest_items(*, retailer: Retailer, today: date) -> list[ReorderPrediction]:
    """The retailer's active products due by a week from `today` (overdue ones first), as the dashboard has
    them: the rows of the active model version, soonest first."""
    version = active_version()
    if version is None:
        return []
    return list(
        ReorderPrediction.objects.filter(
            model_version=version,
            retailer=retailer,
            product__is_active=True,
            expected_date__lte=today + timedelta(days=DIGEST_HORIZON_DAYS),
        )
        .select_related("product", "product__vendor")
        .order_by("expected_date", "-confidence", "product_id")[:DIGEST_LIMIT]
    )
