"""Server time of the vendor portal's pages on the Online Retail data, served by gunicorn; prints a table.

Run from the project root: `python bench/vendor_pages.py [--requests 100] [--refresh]`.

It uses the database `bench/portal_pages.py` builds (`smartbasket_bench_portal`: Online Retail imported and
trained, one vendor owning all 3,659 products, the worst case for these pages); run that first. The vendor's
analytics are refreshed with the services the schedule runs (rollups and insights, then forecasts) when they
are missing or with --refresh, and their times are printed. It then signs in a member of that vendor (a
session cookie made directly in the database), starts gunicorn with 5 workers on 127.0.0.1 and requests each
page a bounded number of times, one request at a time. "Server" times are gunicorn's own request durations
from its access log; "client" times add the loopback HTTP. The reference row is the sign-in page requested
without a session: the same middleware and template machinery with no analytics query, the floor every page
pays (the project has no bare benchmark view). With --queries, the pages whose p99 misses the target are
rendered once more in-process and their slowest SQL statements printed.
"""

import argparse
import sys
import time
from collections.abc import Callable
from typing import TypeVar

import benchdb

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/smartbasket_bench_portal"
# A Redis database of the benchmark's own: the pages' cache (insights) and nothing else's.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"
BENCH_USERNAME = "bench-vendor"
WARMUP_REQUESTS = 5
REQUEST_TIMEOUT = 120
TARGET_P99_MS = 150.0
SLOWEST_QUERIES = 5


Result = TypeVar("Result")


def _timed(step: Callable[[], Result]) -> tuple[Result, str]:
    """The step's result and how long it took, as printed among the facts."""
    started = time.perf_counter()
    result = step()
    return result, f"{time.perf_counter() - started:.1f} s"


def _refresh_analytics(vendor_id: int, *, force: bool) -> dict[str, str]:
    """Run the rollup, insights and forecast refreshes the schedule would run, when missing or forced."""
    from vendors import services
    from vendors.insights import vendor_insights_compute
    from vendors.models import VendorAnalytics

    timings: dict[str, str] = {}
    analytics = VendorAnalytics.objects.filter(vendor_id=vendor_id).first()
    if force or analytics is None or analytics.as_of is None:
        analytics, timings["vendor_rollups_refresh"] = _timed(
            lambda: services.vendor_rollups_refresh(vendor_id=vendor_id)
        )
    else:
        timings["vendor_rollups_refresh"] = (
            f"not run: done at {analytics.rollups_refreshed_at:%Y-%m-%d %H:%M}"
        )
    # Cheap when the cache already holds this refresh's insights; fills it otherwise, as after a refresh.
    _, timings["vendor_insights_compute"] = _timed(lambda: vendor_insights_compute(vendor_id=vendor_id))
    run = analytics.forecast_run
    if force or run is None:
        run, took = _timed(lambda: services.vendor_forecasts_refresh(vendor_id=vendor_id))
        timings["vendor_forecasts_refresh"] = f"{took}, {run.series:,} series"
    else:
        timings["vendor_forecasts_refresh"] = (
            f"not run: live run #{run.pk}, {run.series:,} series in {run.seconds} s"
        )
    return timings


def _bench_session(vendor_id: int) -> str:
    """A signed-in session of a member of the vendor."""
    from accounts.models import User

    user = User.objects.filter(username=BENCH_USERNAME).first()
    if user is None or user.vendor_id != vendor_id:
        User.objects.filter(username=BENCH_USERNAME).delete()
        user = User.objects.create_user(username=BENCH_USERNAME, role=User.Role.VENDOR, vendor_id=vendor_id)
    return benchdb.signed_in_session_key(user)


def _pages(vendor_id: int) -> list[benchdb.Page]:
    from django.urls import reverse

    from vendors.models import ProductPeriod

    top = (
        ProductPeriod.objects.filter(vendor_id=vendor_id, days=365)
        .order_by("-revenue", "product_id")
        .values_list("product_id", flat=True)
        .first()
    )
    if top is None:
        sys.exit("the vendor has no 365-day product figures: the rollup refresh did not run")
    return [
        benchdb.Page("reference: sign-in", reverse("accounts:login"), anonymous=True),
        benchdb.Page("overview, 30 days", reverse("vendors:home") + "?period=30"),
        benchdb.Page("overview, 365 days", reverse("vendors:home") + "?period=365"),
        benchdb.Page("demand", reverse("vendors:demand")),
        benchdb.Page("product (top seller)", reverse("vendors:product", args=[top])),
        benchdb.Page("forecasts", reverse("vendors:forecasts")),
        benchdb.Page("insights", reverse("vendors:insights")),
        benchdb.Page(
            "demand retailers, htmx",
            reverse("vendors:demand") + "?retailer_sort=-units&page=2",
            htmx_target="table-retailer",
        ),
        benchdb.Page(
            "demand CSV (retailers)", reverse("vendors:demand_csv", args=["retailer"]) + "?period=365"
        ),
    ]


def _print_table(results: list[benchdb.Timings], *, workers: int, facts: dict[str, object]) -> None:
    print(f"\nVendor pages on Online Retail, gunicorn {workers} workers, one request at a time")
    for name, value in facts.items():
        print(f"  {name}: {value:,}" if isinstance(value, int) else f"  {name}: {value}")
    header = f"{'page':<26}{benchdb.TIMING_COLUMNS}  target"
    print(header)
    print("-" * len(header))
    for result in results:
        p99 = benchdb.percentile(result.server_ms, 0.99)
        verdict = "" if result.page.anonymous else ("ok" if p99 < TARGET_P99_MS else "MISSED")
        print(f"{result.page.name:<26}{benchdb.timing_cells(result)}  {verdict}")
    print(f"(server = gunicorn's request duration; target: p99 under {TARGET_P99_MS:.0f} ms per page)")


def _print_slowest_queries(pages: list[benchdb.Page], user_id: int) -> None:
    """Render each page once in-process and print its query count and slowest statements."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User

    client = Client()
    client.force_login(User.objects.get(pk=user_id))
    for page in pages:
        headers = {"HX-Request": "true", "HX-Target": page.htmx_target} if page.htmx_target else {}
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(page.path, headers=headers)
            if hasattr(response, "streaming_content"):
                b"".join(response.streaming_content)
            total_ms = (time.perf_counter() - started) * 1000
        sql_ms = sum(float(query["time"]) for query in queries.captured_queries) * 1000
        print(f"\n{page.name}: {total_ms:.0f} ms in-process, {len(queries)} queries taking {sql_ms:.0f} ms")
        slowest = sorted(queries.captured_queries, key=lambda query: -float(query["time"]))[:SLOWEST_QUERIES]
        for query in slowest:
            print(f"  {float(query['time']) * 1000:7.1f} ms  {query['sql'][:400]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    benchdb.add_page_arguments(parser, database_url=DEFAULT_DATABASE_URL, requests=100, port=8766)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--refresh", action="store_true", help="refresh the analytics even if present")
    parser.add_argument("--queries", action="store_true", help="print the slowest SQL of pages over target")
    args = parser.parse_args()
    benchdb.check_page_arguments(args)

    env = benchdb.setup_django(args.database_url, REDIS_URL=args.redis_url)
    from django.db.models import Count

    from vendors.models import SalesFact, Vendor

    benchdb.manage(env, "migrate", "--verbosity", "0")
    benchdb.manage(env, "collectstatic", "--noinput", "--verbosity", "0")
    vendor = (
        Vendor.objects.annotate(products_total=Count("products")).order_by("-products_total", "pk").first()
    )
    if vendor is None or vendor.products_total == 0:
        sys.exit(f"No vendor with products in {args.database_url}; run bench/portal_pages.py first.")
    timings = _refresh_analytics(vendor.pk, force=args.refresh)
    session_key = _bench_session(vendor.pk)
    pages = _pages(vendor.pk)
    facts: dict[str, object] = {
        "vendor": vendor.name,
        "products": vendor.products_total,
        "sales fact rows": SalesFact.objects.filter(vendor=vendor).count(),
        **timings,
    }

    results = benchdb.measure_pages(
        env, pages, session_key=session_key, args=args, warmup=WARMUP_REQUESTS, timeout=REQUEST_TIMEOUT
    )
    _print_table(results, workers=args.workers, facts=facts)
    if args.queries:
        from accounts.models import User

        missed = [
            result.page
            for result in results
            if not result.page.anonymous and benchdb.percentile(result.server_ms, 0.99) >= TARGET_P99_MS
        ]
        _print_slowest_queries(missed, User.objects.get(username=BENCH_USERNAME).pk)


if __name__ == "__main__":
    main()
