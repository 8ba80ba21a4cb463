"""Thin Celery tasks of the accounts app."""

import smtplib

from axes.handlers.proxy import AxesProxyHandler
from celery import shared_task
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone

from accounts.mail import services


# django-axes keeps a row per successful sign-in and never removes one; without this the table only grows.
@shared_task(soft_time_limit=5 * 60, time_limit=6 * 60)
def access_logs_prune() -> int:
    return AxesProxyHandler.reset_logs(age_days=settings.AXES_ACCESS_LOG_DAYS)


# A mail server that refuses or times out (OSError covers the socket errors) is retried with backoff, up to
# about two hours; each mail's record makes the retry safe.
MAIL_RETRY = {
    "autoretry_for": (smtplib.SMTPException, OSError, OperationalError),
    "retry_backoff": 30,
    "retry_backoff_max": 30 * 60,
    "max_retries": 8,
    "soft_time_limit": 60,
    "time_limit": 90,
}


@shared_task(**MAIL_RETRY)
def send_order_confirmation(order_id: int) -> int:
    return services.order_confirmation_send(order_id=order_id)


@shared_task(**MAIL_RETRY)
def send_reorder_digest(user_id: int, week: str) -> bool:
    return services.reorder_digest_send(user_id=user_id, week=week)


# Beat runs this on Monday mornings (migration 0006_weekly_digest_schedule). The week is fixed here, so
# every digest it queues, and every redelivery or retry of one, belongs to this week; a second run in the
# same week queues nobody twice.
@shared_task(soft_time_limit=120, time_limit=150)
def send_reorder_digests() -> int:
    return services.reorder_digests_enqueue(week=services.iso_week(timezone.localdate()))
