"""Thin Celery tasks of the accounts app."""

from axes.handlers.proxy import AxesProxyHandler
from celery import shared_task
from django.conf import settings


# django-axes keeps a row per successful sign-in and never removes one; without this the table only grows.
@shared_task(soft_time_limit=5 * 60, time_limit=6 * 60)
def access_logs_prune() -> int:
    return AxesProxyHandler.reset_logs(age_days=settings.AXES_ACCESS_LOG_DAYS)
