"""Thin Celery tasks of the vendor analytics: each takes ids and calls one service (vendors.services).

They run on the default queue ("celery"), which every worker consumes; queued through the task outbox, so a
task queued by an import or a retrain is published once that commits.
"""

from celery import shared_task
from django.db import OperationalError

from vendors import insights, services

# Online Retail's 386,000 lines of one vendor rebuild in seconds; the limit only stops a stuck statement.
ROLLUPS_SOFT_LIMIT = 9 * 60
ROLLUPS_HARD_LIMIT = 10 * 60
# Fitting and backtesting thousands of weekly series takes minutes.
FORECASTS_SOFT_LIMIT = 50 * 60
FORECASTS_HARD_LIMIT = 55 * 60


# A rebuild is idempotent (delete and insert in one transaction), so a database hiccup is retried.
@shared_task(
    autoretry_for=(OperationalError,),
    retry_backoff=5,
    max_retries=3,
    soft_time_limit=ROLLUPS_SOFT_LIMIT,
    time_limit=ROLLUPS_HARD_LIMIT,
)
def refresh_vendor_rollups(vendor_id: int) -> str | None:
    as_of = services.vendor_rollups_refresh(vendor_id=vendor_id).as_of
    # Computed here, after the rebuild committed, so the insights page of a large vendor reads them from the
    # cache instead of computing them on its first request after every refresh.
    insights.vendor_insights_compute(vendor_id=vendor_id)
    return as_of.isoformat() if as_of else None


# No automatic retry: a failed run is recorded with its error and the previous run stays live; repeating
# minutes of fitting on the same data would fail the same way. The outbox waits past the hard limit before
# publishing again, as for a retrain.
@shared_task(
    max_retries=0,
    soft_time_limit=FORECASTS_SOFT_LIMIT,
    time_limit=FORECASTS_HARD_LIMIT,
    outbox_redeliver_after=FORECASTS_HARD_LIMIT + 5 * 60,
)
def refresh_vendor_forecasts(vendor_id: int, refresh_rollups: bool = False) -> int:
    if refresh_rollups:
        services.vendor_rollups_refresh(vendor_id=vendor_id)
        insights.vendor_insights_compute(vendor_id=vendor_id)
    return services.vendor_forecasts_refresh(vendor_id=vendor_id).pk


# The schedule (beat, migration 0003): hourly rollups, nightly rollups and forecasts of every vendor, queued
# as one task per vendor.
@shared_task(soft_time_limit=60, time_limit=90)
def refresh_all_vendors(forecasts: bool = False) -> list[int]:
    return services.vendors_refresh_all(forecasts=forecasts)
