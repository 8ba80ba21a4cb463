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
import http.client
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchdb import manage
from portal_pages import Page, Timings, _percentile, _start_gunicorn

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/smartbasket_bench_portal"
# A Redis database of the benchmark's own: the pages' cache (insights) and nothing else's.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"
BENCH_USERNAME = "bench-vendor"
WARMUP_REQUESTS = 5
TARGET_P99_MS = 150.0
SLOWEST_QUERIES = 5


@dataclass(frozen=True)
class VendorPage(Page):
    # The reference is requested without the session cookie.
    anonymous: bool = False


def _refresh_analytics(vendor_id: int, *, force: bool) -> dict[str, str]:
    """Run the rollup, insights and forecast refreshes the schedule would run, when missing or forced."""
    from vendors import services
    from vendors.insights import vendor_insights_compute
    from vendors.models import VendorAnalytics

    timings: dict[str, str] = {}
    analytics = VendorAnalytics.objects.filter(vendor_id=vendor_id).first()
    if force or analytics is None or analytics.as_of is None:
        started = time.perf_counter()
        analytics = services.vendor_rollups_refresh(vendor_id=vendor_id)
        timings["vendor_rollups_refresh"] = f"{time.perf_counter() - started:.1f} s"
    else:
        timings["vendor_rollups_refresh"] = (
            f"not run: done at {analytics.rollups_refreshed_at:%Y-%m-%d %H:%M}"
        )
    # Cheap when the cache already holds this refresh's insights; fills it otherwise, as after a refresh.
    started = time.perf_counter()
    vendor_insights_compute(vendor_id=vendor_id)
    timings["vendor_insights_compute"] = f"{time.perf_counter() - started:.1f} s"
    run = analytics.forecast_run
    if force or run is None:
        started = time.perf_counter()
        run = services.vendor_forecasts_refresh(vendor_id=vendor_id)
        timings["vendor_forecasts_refresh"] = f"{time.perf_counter() - started:.1f} s, {run.series:,} series"
    else:
        timings["vendor_forecasts_refresh"] = (
            f"not run: live run #{run.pk}, {run.series:,} series in {run.seconds} s"
        )
    return timings


def _bench_session(vendor_id: int) -> str:
    """A signed-in session of a member of the vendor."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from accounts.models import User

    user = User.objects.filter(username=BENCH_USERNAME).first()
    if user is None or user.vendor_id != vendor_id:
        User.objects.filter(username=BENCH_USERNAME).delete()
        user = User.objects.create_user(username=BENCH_USERNAME, role=User.Role.VENDOR, vendor_id=vendor_id)
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    # The last backend signs users in; the first only refuses locked-out sign-ins (django-axes).
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[-1]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key


def _pages(vendor_id: int) -> list[VendorPage]:
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
        VendorPage("reference: sign-in", reverse("accounts:login"), anonymous=True),
        VendorPage("overview, 30 days", reverse("vendors:home") + "?period=30"),
        VendorPage("overview, 365 days", reverse("vendors:home") + "?period=365"),
        VendorPage("demand", reverse("vendors:demand")),
        VendorPage("product (top seller)", reverse("vendors:product", args=[top])),
        VendorPage("forecasts", reverse("vendors:forecasts")),
        VendorPage("insights", reverse("vendors:insights")),
        VendorPage(
            "demand retailers, htmx",
            reverse("vendors:demand") + "?retailer_sort=-units&page=2",
            htmx_target="table-retailer",
        ),
        VendorPage(
            "demand CSV (retailers)", reverse("vendors:demand_csv", args=["retailer"]) + "?period=365"
        ),
    ]


def _get(connection: http.client.HTTPConnection, page: VendorPage, cookie: str) -> tuple[int, float]:
    headers = {"Host": "127.0.0.1"}
    if not page.anonymous:
        headers["Cookie"] = cookie
    if page.htmx_target:
        headers |= {"HX-Request": "true", "HX-Target": page.htmx_target}
    started = time.perf_counter()
    connection.request("GET", page.path, headers=headers)
    response = connection.getresponse()
    response.read()
    return response.status, (time.perf_counter() - started) * 1000


def _server_times(access_log: Path, offset: int, path: str) -> list[float]:
    # gunicorn's %(U)s is the path without the query string.
    with access_log.open() as log:
        log.seek(offset)
        lines = log.readlines()
    bare_path = path.split("?", 1)[0]
    return [int(line.split()[2]) / 1000 for line in lines if line.split()[0] == bare_path]


def _measure(
    pages: list[VendorPage], *, port: int, cookie: str, requests: int, access_log: Path
) -> list[Timings]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    results = []
    for page in pages:
        for _ in range(WARMUP_REQUESTS):
            _get(connection, page, cookie)
        # Let gunicorn flush the warm-up lines so they are not counted.
        time.sleep(0.5)
        offset = access_log.stat().st_size
        statuses, client_ms = [], []
        for _ in range(requests):
            status, elapsed = _get(connection, page, cookie)
            statuses.append(status)
            client_ms.append(elapsed)
        time.sleep(0.5)
        server_ms = _server_times(access_log, offset, page.path)
        results.append(Timings(page=page, statuses=statuses, client_ms=client_ms, server_ms=server_ms))
    connection.close()
    return results


def _print_table(results: list[Timings], *, workers: int, facts: dict[str, object]) -> None:
    print(f"\nVendor pages on Online Retail, gunicorn {workers} workers, one request at a time")
    for name, value in facts.items():
        print(f"  {name}: {value:,}" if isinstance(value, int) else f"  {name}: {value}")
    header = f"{'page':<26}{'requests':>9}{'non-200':>9}{'server p50':>12}{'server p99':>12}"
    header += f"{'client p50':>12}{'client p99':>12}  target"
    print(header)
    print("-" * len(header))
    for result in results:
        bad = sum(1 for status in result.statuses if status != 200)
        p99 = _percentile(result.server_ms, 0.99)
        verdict = "" if result.page.anonymous else ("ok" if p99 < TARGET_P99_MS else "MISSED")
        print(
            f"{result.page.name:<26}{len(result.statuses):>9}{bad:>9}"
            f"{_percentile(result.server_ms, 0.5):>10.1f}ms{p99:>10.1f}ms"
            f"{_percentile(result.client_ms, 0.5):>10.1f}ms{_percentile(result.client_ms, 0.99):>10.1f}ms"
            f"  {verdict}"
        )
    print(f"(server = gunicorn's request duration; target: p99 under {TARGET_P99_MS:.0f} ms per page)")


def _print_slowest_queries(pages: list[VendorPage], user_id: int) -> None:
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
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--requests", type=int, default=100, help="measured requests per page")
    parser.add_argument("--workers", type=int, default=5)
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--refresh", action="store_true", help="refresh the analytics even if present")
    parser.add_argument("--queries", action="store_true", help="print the slowest SQL of pages over target")
    args = parser.parse_args()
    if args.database_url.rsplit("/", 1)[1] == "smartbasket":
        sys.exit("refusing to run on the development database")
    if args.requests < 1:
        sys.exit("--requests must be at least 1")

    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-secret-key"),
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        # gunicorn serves plain HTTP on loopback; production's redirect to HTTPS would answer every request.
        "SECURE_SSL_REDIRECT": "false",
        "DJANGO_SETTINGS_MODULE": "smartbasket.settings",
    }
    os.environ.update(env)
    sys.path.insert(0, str(PROJECT_ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.db.models import Count

    from vendors.models import SalesFact, Vendor

    manage(env, "migrate", "--verbosity", "0")
    manage(env, "collectstatic", "--noinput", "--verbosity", "0")
    vendor = (
        Vendor.objects.annotate(products_total=Count("products")).order_by("-products_total", "pk").first()
    )
    if vendor is None or vendor.products_total == 0:
        sys.exit(f"No vendor with products in {args.database_url}; run bench/portal_pages.py first.")
    timings = _refresh_analytics(vendor.pk, force=args.refresh)
    session_key = _bench_session(vendor.pk)
    cookie = f"{settings.SESSION_COOKIE_NAME}={session_key}"
    pages = _pages(vendor.pk)
    facts: dict[str, object] = {
        "vendor": vendor.name,
        "products": vendor.products_total,
        "sales fact rows": SalesFact.objects.filter(vendor=vendor).count(),
        **timings,
    }

    with tempfile.TemporaryDirectory() as scratch:
        access_log = Path(scratch) / "access.log"
        access_log.touch()
        server = _start_gunicorn(env, port=args.port, workers=args.workers, access_log=access_log)
        try:
            results = _measure(
                pages, port=args.port, cookie=cookie, requests=args.requests, access_log=access_log
            )
        finally:
            server.terminate()
            server.wait(timeout=30)
    _print_table(results, workers=args.workers, facts=facts)
    if args.queries:
        from accounts.models import User

        missed = [
            result.page
            for result in results
            if not result.page.anonymous and _percentile(result.server_ms, 0.99) >= TARGET_P99_MS
        ]
        _print_slowest_queries(missed, User.objects.get(username=BENCH_USERNAME).pk)


if __name__ == "__main__":
    main()
