"""Writes of the e-mail features: queue a mail, send it once, and unsubscribe.

Mails are sent by Celery tasks queued through the task outbox (recommendations/outbox.py), so placing an order
never waits on the mail server or Redis and the mail is not lost when either is down. Each mail is recorded
(EmailDelivery) in the transaction that sends it: a retried, redelivered or duplicated task finds the record
and sends nothing; a send that fails rolls the record back, so the retry sends it.
"""

import logging
from collections.abc import Callable
from datetime import date

from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.utils import timezone

from accounts.mail import messages, selectors
from accounts.mail.unsubscribe import SETTING_OF_KIND, Subscription
from accounts.models import EmailDelivery, User
from orders.models import Order
from recommendations.outbox import task_outbox_add

logger = logging.getLogger(__name__)


def iso_week(day: date) -> str:
    """The digest's key: one digest per person per ISO week ("2026-W49")."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


@transaction.atomic
def _email_send_once(*, kind: str, user: User, key: str, build: Callable[[], EmailMultiAlternatives]) -> bool:
    # The unique record is written first: a concurrent copy of this task waits on its index entry and then
    # finds it, so two workers never both send.
    delivery, created = EmailDelivery.objects.get_or_create(
        kind=kind, user=user, key=key, defaults={"to_email": user.email}
    )
    if not created:
        return False
    message = build()
    delivery.subject = message.subject[:200]
    delivery.save(update_fields=["subject"])
    message.send()
    logger.info("Sent %s %s to user %s", kind, key, user.pk)
    return True


@transaction.atomic
def order_confirmation_enqueue(*, order: Order) -> None:
    """With the caller's transaction (placing the order), queue its confirmation if anybody wants one."""
    if selectors.order_confirmation_recipients(retailer_id=order.retailer_id).exists():
        task_outbox_add(task_name="accounts.tasks.send_order_confirmation", args=[order.pk])


def order_confirmation_send(*, order_id: int) -> int:
    """Mail the confirmation to each member who wants one and has not had it; returns how many were sent."""
    order = selectors.order_for_confirmation(order_id=order_id)
    if order is None:
        return 0
    sent = 0
    for user in selectors.order_confirmation_recipients(retailer_id=order.retailer_id):
        sent += _email_send_once(
            kind=EmailDelivery.Kind.ORDER_CONFIRMATION,
            user=user,
            key=str(order.pk),
            build=lambda user=user: messages.order_confirmation_message(user=user, order=order),
        )
    return sent


@transaction.atomic
def reorder_digests_enqueue(*, week: str) -> int:
    """Queue this week's digest for every opted-in member who has not had it yet; returns how many."""
    already = selectors.users_sent(kind=EmailDelivery.Kind.REORDER_DIGEST, key=week).values("user_id")
    user_ids = list(
        selectors.reorder_digest_recipients().exclude(pk__in=already).values_list("pk", flat=True)
    )
    for user_id in user_ids:
        task_outbox_add(task_name="accounts.tasks.send_reorder_digest", args=[user_id, week])
    return len(user_ids)


def reorder_digest_send(*, user_id: int, week: str, today: date | None = None) -> bool:
    """Send one member's digest for `week`, unless they opted out since, nothing is due, or it was sent."""
    user = selectors.reorder_digest_recipients().filter(pk=user_id).first()
    if user is None:
        return False
    today = today or timezone.localdate()
    items = selectors.reorder_digest_items(retailer=user.retailer, today=today)
    if not items:
        return False
    return _email_send_once(
        kind=EmailDelivery.Kind.REORDER_DIGEST,
        user=user,
        key=week,
        build=lambda: messages.reorder_digest_message(user=user, items=items, today=today),
    )


@transaction.atomic
def email_unsubscribe(*, subscription: Subscription) -> None:
    """Turn off the setting that kind of mail obeys (the settings page turns it back on)."""
    field = SETTING_OF_KIND[subscription.kind]
    User.objects.filter(pk=subscription.user.pk).update(**{field: False})
    setattr(subscription.user, field, False)
