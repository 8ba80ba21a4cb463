"""Server time of the retailer portal's pages on the Online Retail data, served by gunicorn; prints a table.

Run from the project root: `python bench/portal_pages.py [--requests 200] [--fresh]`.

It uses its own PostgreSQL database (`smartbasket_bench_portal` by default, never the development one): the
first run migrates it, imports the Online Retail file with `import_transactions --format online-retail` and
retrains in-process; later runs reuse that data unless --fresh is given. It then signs in as the retailer with
the most orders (a session cookie made directly in the database), fills its basket with a few of its usual
products, starts gunicorn with 5 workers on 127.0.0.1 and requests each page a bounded number of times, one
request at a time. "Server" times are gunicorn's own request durations from its access log; "client" times add
the loopback HTTP.
"""

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchdb import ensure_database, manage

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/smartbasket_bench_portal"
BENCH_USERNAME = "bench-retailer"
BASKET_PRODUCTS = 5
WARMUP_REQUESTS = 10


@dataclass(frozen=True)
class Page:
    name: str
    path: str
    htmx_target: str = ""


@dataclass
class Timings:
    page: Page
    statuses: list[int]
    client_ms: list[float]
    server_ms: list[float]


def _prepare_data(env: dict[str, str], *, dataset: Path, hybrid_params: str) -> None:
    """Import and train unless an earlier run already did (both steps are idempotent, but slow)."""
    from orders.models import Order
    from recommendations.selectors import active_version

    manage(env, "migrate", "--verbosity", "0")
    if not Order.objects.filter(source="online-retail").exists():
        manage(env, "import_transactions", str(dataset), "--format", "online-retail", "--no-progress")
    if active_version() is None:
        manage(env, "retrain", "--in-process", "--hybrid-params", hybrid_params)
    manage(env, "collectstatic", "--noinput", "--verbosity", "0")


def _bench_session() -> tuple[str, dict[str, int]]:
    """A signed-in session of a member of the busiest retailer, whose basket holds a few usual products."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.db.models import Count

    from accounts.models import Retailer, User
    from catalog.models import Product
    from orders.models import Order
    from orders.selectors import basket_summary
    from orders.services import basket_add_product

    retailer = Retailer.objects.annotate(placed=Count("orders")).order_by("-placed", "pk").first()
    if retailer is None:
        sys.exit("no retailers: the import did not run")
    user = User.objects.filter(username=BENCH_USERNAME).first()
    if user is None or user.retailer_id != retailer.pk:
        User.objects.filter(username=BENCH_USERNAME).delete()
        user = User.objects.create_user(username=BENCH_USERNAME, role=User.Role.RETAILER, retailer=retailer)
    if not basket_summary(retailer=retailer).lines:
        usual = (
            Product.objects.filter(is_active=True, order_lines__order__retailer=retailer)
            .annotate(times=Count("order_lines"))
            .order_by("-times", "pk")[:BASKET_PRODUCTS]
        )
        for product in usual:
            basket_add_product(retailer=retailer, product=product, quantity=2)

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    # The last backend signs users in; the first only refuses locked-out sign-ins (django-axes).
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[-1]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    facts = {
        "retailer orders": Order.objects.filter(retailer=retailer, status=Order.Status.PLACED).count(),
        "basket lines": len(basket_summary(retailer=retailer).lines),
        "orders in database": Order.objects.count(),
        "products in database": Product.objects.count(),
    }
    return session.session_key, facts


def _start_gunicorn(env: dict[str, str], *, port: int, workers: int, access_log: Path) -> subprocess.Popen:
    command = [
        str(Path(PYTHON).with_name("gunicorn")),
        "smartbasket.wsgi:application",
        "--workers",
        str(workers),
        "--bind",
        f"127.0.0.1:{port}",
        "--access-logfile",
        str(access_log),
        # Path, status and the request's duration in microseconds as gunicorn measured it.
        "--access-logformat",
        "%(U)s %(s)s %(D)s",
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/login/")
            connection.getresponse().read()
            return server
        except OSError:
            time.sleep(0.3)
    server.terminate()
    sys.exit("gunicorn did not start within 30 s")


def _get(connection: http.client.HTTPConnection, page: Page, cookie: str) -> tuple[int, float]:
    headers = {"Cookie": cookie, "Host": "127.0.0.1"}
    if page.htmx_target:
        headers |= {"HX-Request": "true", "HX-Target": page.htmx_target}
    started = time.perf_counter()
    connection.request("GET", page.path, headers=headers)
    response = connection.getresponse()
    response.read()
    return response.status, (time.perf_counter() - started) * 1000


def _server_times(access_log: Path, offset: int, path: str) -> tuple[list[float], int]:
    with access_log.open() as log:
        log.seek(offset)
        lines = log.readlines()
        end = log.tell()
    times = [int(line.split()[2]) / 1000 for line in lines if line.split()[0] == path]
    return times, end


def _measure(pages: list[Page], *, port: int, cookie: str, requests: int, access_log: Path) -> list[Timings]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
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
        server_ms, _ = _server_times(access_log, offset, page.path)
        results.append(Timings(page=page, statuses=statuses, client_ms=client_ms, server_ms=server_ms))
    connection.close()
    return results


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _print_table(results: list[Timings], *, workers: int, facts: dict[str, int]) -> None:
    print(f"\nPortal pages on Online Retail, gunicorn {workers} workers, one request at a time")
    for name, value in facts.items():
        print(f"  {name}: {value:,}")
    header = f"{'page':<22}{'requests':>9}{'non-200':>9}{'server p50':>12}{'server p99':>12}"
    header += f"{'client p50':>12}{'client p99':>12}"
    print(header)
    print("-" * len(header))
    for result in results:
        bad = sum(1 for status in result.statuses if status != 200)
        print(
            f"{result.page.name:<22}{len(result.statuses):>9}{bad:>9}"
            f"{_percentile(result.server_ms, 0.5):>10.1f}ms{_percentile(result.server_ms, 0.99):>10.1f}ms"
            f"{_percentile(result.client_ms, 0.5):>10.1f}ms{_percentile(result.client_ms, 0.99):>10.1f}ms"
        )
    print("(server = gunicorn's request duration; mean server time over all pages", end=" ")
    print(f"{statistics.fmean(t for r in results for t in r.server_ms):.1f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--file", help="defaults to online_retail.csv.gz in SMARTBASKET_DATASETS_DIR")
    parser.add_argument("--requests", type=int, default=200, help="measured requests per page")
    parser.add_argument("--workers", type=int, default=5)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--fresh", action="store_true", help="drop the bench database and import again")
    parser.add_argument(
        "--hybrid-params", default="{}", help="JSON passed to `retrain --hybrid-params` on the first run"
    )
    args = parser.parse_args()
    if args.database_url.rsplit("/", 1)[1] == "smartbasket":
        sys.exit("refusing to run on the development database")
    if args.requests < 1:
        sys.exit("--requests must be at least 1")

    ensure_database(args.database_url, fresh=args.fresh)
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-secret-key"),
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        # gunicorn serves plain HTTP on loopback here; production's redirect to HTTPS would answer every request.
        "SECURE_SSL_REDIRECT": "false",
        "DJANGO_SETTINGS_MODULE": "smartbasket.settings",
    }
    os.environ.update(env)
    sys.path.insert(0, str(PROJECT_ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.urls import reverse

    dataset = Path(args.file) if args.file else settings.DATASETS_DIR / "online_retail.csv.gz"
    _prepare_data(env, dataset=dataset, hybrid_params=args.hybrid_params)
    session_key, facts = _bench_session()
    cookie = f"{settings.SESSION_COOKIE_NAME}={session_key}"
    pages = [
        Page("dashboard", reverse("recommendations:dashboard")),
        Page("catalogue", reverse("catalog:list")),
        Page("basket", reverse("orders:basket")),
        Page("basket suggestions", reverse("orders:basket_suggestions"), htmx_target="basket-suggestions"),
    ]

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


if __name__ == "__main__":
    main()
