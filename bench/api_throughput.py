"""Throughput of the mobile API v1 against a bare Django JSON view, on Online Retail data; prints two tables.

Run from the project root: `python bench/api_throughput.py [--duration 15] [--connections 32] [--fresh]`.

It uses the database `bench/portal_pages.py` builds (`smartbasket_bench_portal`), building it the same way
when missing (migrate, import Online Retail, retrain), and migrating it otherwise. A retailer member with a
password (`bench-api-retailer`) is made for the busiest retailer that has recommendations, and signs in
through `POST /api/v1/token/`. gunicorn serves the project as gunicorn.conf.py configures it (sync workers
unless GUNICORN_THREADS says otherwise), 5 workers, DEBUG off, the Redis cache, with the settings
`bench.api_settings`: the project's own plus `/bench/bare/`, a view returning `{"ok": true}` through the same
middleware. The per-user API throttle is raised so the one bench user is not throttled; the access log is off
and workers are not recycled during the run (both would cost CPU unrelated to the endpoints).

1. Saturation, with wrk on loopback and the same settings for every endpoint (a warm-up run, then the
   measured one; Lua scripts set the JWT and the POST body): req/s, p50, p99, and the ratio to the bare view
   against the issue's targets (recommendations 0.4x, next-item 0.25x, catalogue search 0.25x).
2. A fixed 100 req/s for each endpoint with `bench/loadgen.py` (open loop, latency from each request's due
   time, so stalls are not hidden): p50 and p99 against the 25 ms target.
The SQL queries of one request per endpoint (the first, then a repeat with the caches warm) come from the
Django test client in this process on the same database and cache.

wrk, gunicorn and the load generator share the machine's cores, so the absolute figures are this machine's;
the ratios are the point of the benchmark.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import benchdb
import loadgen
import portal_pages

DEFAULT_DATABASE_URL = portal_pages.DEFAULT_DATABASE_URL
# A Redis database of the benchmark's own (cache, throttle counters, buffered impressions).
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
BENCH_USERNAME = "bench-api-retailer"
BENCH_PASSWORD = "bench-api-password-not-secret"
BASKET_PRODUCTS = 5
NEXT_ITEM_LIMIT = 10
FIXED_RATE_TARGET_P99_MS = 25.0
REQUEST_TIMEOUT = 30.0
# Workers are recycled after this many requests in production (gunicorn.conf.py); at thousands of requests a
# second that would restart every worker every few seconds, mostly during the bare view's run.
NO_RECYCLING = "100000000"
WRK_RESULT_MARK = "WRKJSON "


@dataclass(frozen=True)
class Endpoint:
    name: str
    path: str
    method: str = "GET"
    body: dict | None = None
    # The target: the endpoint's throughput as a fraction of the bare view's (None: the bare view).
    target_ratio: float | None = None

    @property
    def body_bytes(self) -> bytes | None:
        return json.dumps(self.body).encode() if self.body is not None else None


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


@dataclass(frozen=True)
class QueryCount:
    status: int
    first: int
    warm: int
    sample: str


def _bench_user_and_basket() -> tuple[dict[str, object], list[int]]:
    """The bench retailer member (with a password) and a basket of 5 of its usual products with associations.

    The retailer is the busiest one with recommendations in the active version, so the recommendation lists
    are full; the products are the retailer's most ordered ones that have "bought together" rules, topped up
    with the products with the most rules when it has fewer.
    """
    from django.db.models import Count

    from accounts.models import Retailer, User
    from catalog.models import Product
    from recommendations.models import ProductAssociation, Recommendation
    from recommendations.selectors import active_version

    version = active_version()
    if version is None:
        sys.exit("no active model version: the retrain did not run")
    with_recommendations = Recommendation.objects.filter(model_version=version).values("retailer")
    retailer = (
        Retailer.objects.filter(pk__in=with_recommendations)
        .annotate(placed=Count("orders"))
        .order_by("-placed", "pk")
        .first()
    )
    if retailer is None:
        sys.exit("the active model version has no recommendations")
    user = User.objects.filter(username=BENCH_USERNAME).first()
    if user is None or user.retailer_id != retailer.pk:
        User.objects.filter(username=BENCH_USERNAME).delete()
        user = User.objects.create_user(
            username=BENCH_USERNAME, password=BENCH_PASSWORD, role=User.Role.RETAILER, retailer=retailer
        )
    elif not user.check_password(BENCH_PASSWORD) or not user.is_active:
        user.set_password(BENCH_PASSWORD)
        user.is_active = True
        user.save()

    with_rules = ProductAssociation.objects.filter(model_version=version).values("product")
    usual = list(
        Product.objects.filter(is_active=True, pk__in=with_rules, order_lines__order__retailer=retailer)
        .annotate(times=Count("order_lines"))
        .order_by("-times", "pk")
        .values_list("pk", flat=True)[:BASKET_PRODUCTS]
    )
    if len(usual) < BASKET_PRODUCTS:
        most_rules = (
            ProductAssociation.objects.filter(model_version=version, product__is_active=True)
            .exclude(product__in=usual)
            .values("product")
            .annotate(rules=Count("pk"))
            .order_by("-rules", "product")
            .values_list("product", flat=True)
        )
        usual += list(most_rules[: BASKET_PRODUCTS - len(usual)])
    facts = {
        "retailer": f"{retailer.name} (#{retailer.pk}, {retailer.placed:,} orders)",
        "model version": f"#{version.pk}",
        "recommendations of the retailer": Recommendation.objects.filter(
            model_version=version, retailer=retailer
        ).count(),
        "association rules": ProductAssociation.objects.filter(model_version=version).count(),
        "basket": ", ".join(str(pk) for pk in usual),
    }
    return facts, usual


def _endpoints(*, basket: list[int], query: str) -> list[Endpoint]:
    from urllib.parse import urlencode

    from django.urls import reverse

    return [
        Endpoint("bare Django JSON view", reverse("bench-bare")),
        Endpoint("GET recommendations", reverse("api-v1-recommendations"), target_ratio=0.4),
        Endpoint(
            "POST next-item (5 products)",
            reverse("api-v1-next-item"),
            method="POST",
            body={"product_ids": basket, "limit": NEXT_ITEM_LIMIT},
            target_ratio=0.25,
        ),
        Endpoint(
            f"GET products?q={query}",
            reverse("api-v1-products") + "?" + urlencode({"q": query}),
            target_ratio=0.25,
        ),
    ]


def _obtain_access_token(port: int) -> str:
    """An access token from `POST /api/v1/token/`, as the app signs in."""
    import http.client

    from django.urls import reverse

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    body = json.dumps({"username": BENCH_USERNAME, "password": BENCH_PASSWORD})
    headers = {"Host": "127.0.0.1", "Content-Type": "application/json"}
    try:
        connection.request("POST", reverse("api-v1-token"), body=body, headers=headers)
        response = connection.getresponse()
        answer = response.read()
    finally:
        connection.close()
    if response.status != 200:
        sys.exit(f"POST /api/v1/token/ answered {response.status}: {answer[:300]!r}")
    return json.loads(answer)["access"]


def _count_queries(endpoints: list[Endpoint], *, token: str) -> dict[str, QueryCount]:
    """The queries of one request to each endpoint in this process: the first one, then a repeat."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", raise_request_exception=False)
    counts = {}
    for endpoint in endpoints:
        numbers = []
        for _ in range(2):
            with CaptureQueriesContext(connection) as queries:
                response = client.generic(
                    endpoint.method,
                    endpoint.path,
                    data=endpoint.body_bytes or b"",
                    content_type="application/json",
                )
            numbers.append(len(queries))
        sample = response.content[:160].decode(errors="replace").replace("\n", " ")
        counts[endpoint.name] = QueryCount(response.status_code, numbers[0], numbers[1], sample)
    return counts


def _lua_script(endpoint: Endpoint, *, token: str) -> str:
    """wrk's script for the endpoint: method, JWT, JSON body, and the results printed as one JSON line."""
    lines = [f'wrk.method = "{endpoint.method}"']
    if endpoint.target_ratio is not None:
        lines.append(f'wrk.headers["Authorization"] = "Bearer {token}"')
    if endpoint.body is not None:
        lines.append('wrk.headers["Content-Type"] = "application/json"')
        lines.append(f"wrk.body = [==[{json.dumps(endpoint.body)}]==]")
    lines.append(
        "done = function(summary, latency, requests)\n"
        "  local e = summary.errors\n"
        f'  io.write(string.format("{WRK_RESULT_MARK}'
        '{\\"requests\\": %d, \\"duration_us\\": %d, \\"non_2xx\\": %d, \\"socket_errors\\": %d, '
        '\\"p50_us\\": %d, \\"p99_us\\": %d}\\n",\n'
        "    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,\n"
        "    latency:percentile(50), latency:percentile(99)))\n"
        "end"
    )
    return "\n".join(lines) + "\n"


def _wrk(wrk: str, url: str, script: Path, *, args: argparse.Namespace, seconds: int) -> WrkResult:
    command = [
        wrk,
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{seconds}s",
        "--timeout",
        f"{REQUEST_TIMEOUT:.0f}s",
        "-s",
        str(script),
        url,
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    line = next((line for line in output.splitlines() if line.startswith(WRK_RESULT_MARK)), None)
    if line is None:
        sys.exit(f"wrk printed no result:\n{output}")
    raw = json.loads(line.removeprefix(WRK_RESULT_MARK))
    return WrkResult(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        non_2xx=raw["non_2xx"],
        socket_errors=raw["socket_errors"],
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
    )


def _server_problems(log: Path) -> list[str]:
    """The server's log lines at WARNING or above (a traceback's first line among them)."""
    if not log.exists():
        return []
    marks = (" WARNING ", " ERROR ", " CRITICAL ", "[ERROR]", "[CRITICAL]", "Traceback")
    with log.open(errors="replace") as lines:
        return [line.rstrip() for line in lines if any(mark in line for mark in marks)]


def _print_saturation(
    endpoints: list[Endpoint],
    results: dict[str, WrkResult],
    queries: dict[str, QueryCount],
    *,
    args: argparse.Namespace,
) -> None:
    print(
        f"\nSaturation: wrk -t{args.threads} -c{args.connections} -d{args.duration}s on loopback "
        f"(after a {args.warmup} s warm-up), gunicorn {args.workers} workers"
    )
    header = (
        f"{'endpoint':<30}{'status':>7}{'queries':>9}{'req/s':>9}{'p50':>9}{'p99':>9}"
        f"{'non-2xx':>9}{'ratio':>8}{'target':>8}  met?"
    )
    print(header)
    print("-" * len(header))
    bare = results[endpoints[0].name].rate
    for endpoint in endpoints:
        result, count = results[endpoint.name], queries[endpoint.name]
        ratio = result.rate / bare if bare else float("nan")
        failed = result.non_2xx + result.socket_errors
        if endpoint.target_ratio is None:
            target, met = "", ""
        else:
            target = f"{endpoint.target_ratio:.2f}x"
            met = "yes" if ratio >= endpoint.target_ratio and not failed and count.status == 200 else "NO"
        print(
            f"{endpoint.name:<30}{count.status:>7}{count.warm:>4} ({count.first:>2}){result.rate:>9,.0f}"
            f"{result.p50_ms:>7.1f}ms{result.p99_ms:>7.1f}ms{failed:>9,}{ratio:>7.2f}x{target:>8}  {met}"
        )
    print(
        "(status: the test client's answer; queries: per request with warm caches, the first one in brackets)"
    )


def _print_fixed_rate(
    endpoints: list[Endpoint], results: dict[str, loadgen.FixedRateResult], *, args
) -> None:
    print(
        f"\nFixed rate: {args.rate:g} req/s for {args.fixed_seconds} s each, open loop over "
        f"{args.fixed_connections} keep-alive connections, latency from each request's due time"
    )
    header = (
        f"{'endpoint':<30}{'sent':>7}{'req/s':>8}{'non-2xx':>9}{'p50':>9}{'p99':>9}{'max':>9}"
        f"{'send lag':>10}  p99 < {FIXED_RATE_TARGET_P99_MS:g} ms?"
    )
    print(header)
    print("-" * len(header))
    for endpoint in endpoints:
        result = results[endpoint.name]
        p99 = result.percentile(0.99)
        met = "yes" if p99 < FIXED_RATE_TARGET_P99_MS and not result.failures else "NO"
        print(
            f"{endpoint.name:<30}{len(result.statuses):>7,}{result.achieved_rate:>8.1f}{result.failures:>9,}"
            f"{result.percentile(0.5):>7.1f}ms{p99:>7.1f}ms{max(result.latencies_ms):>7.1f}ms"
            f"{result.worst_send_lag_ms:>8.1f}ms  {met}"
        )
    print("(send lag: the latest a request left after its due time; large means the generator fell behind)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--workers", type=int, default=5)
    parser.add_argument("--port", type=int, default=8767)
    parser.add_argument("--threads", type=int, default=2, help="wrk's threads")
    parser.add_argument("--connections", type=int, default=32, help="wrk's connections")
    parser.add_argument("--duration", type=int, default=15, help="seconds of each measured wrk run")
    parser.add_argument("--warmup", type=int, default=5, help="seconds of wrk before each measured run")
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second of the fixed-rate run")
    parser.add_argument("--fixed-seconds", type=float, default=15.0)
    parser.add_argument("--fixed-connections", type=int, default=8)
    parser.add_argument("--query", default="bag", help="the catalogue search word")
    parser.add_argument("--file", help="defaults to online_retail.csv.gz in SMARTBASKET_DATASETS_DIR")
    parser.add_argument("--fresh", action="store_true", help="drop the bench database and import again")
    parser.add_argument(
        "--hybrid-params", default="{}", help="JSON passed to `retrain --hybrid-params` when it trains"
    )
    args = parser.parse_args()
    if args.database_url.rsplit("/", 1)[1] == "smartbasket":
        sys.exit("refusing to run on the development database")
    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit("wrk is not installed (apt-get install wrk)")

    benchdb.ensure_database(args.database_url, fresh=args.fresh)
    env = benchdb.setup_django(
        args.database_url,
        DJANGO_SETTINGS_MODULE="bench.api_settings",
        # simplejwt signs with it: PyJWT warns at every request about an HMAC key under 32 bytes.
        SECRET_KEY=os.environ.get("SECRET_KEY", "bench-only-secret-key-long-enough-for-hmac-sha256"),
        REDIS_URL=args.redis_url,
        API_THROTTLE_USER="1000000/min",
        WEB_CONCURRENCY=str(args.workers),
        GUNICORN_MAX_REQUESTS=NO_RECYCLING,
        GUNICORN_LOG_LEVEL="warning",
    )
    from django.conf import settings

    dataset = Path(args.file) if args.file else settings.DATASETS_DIR / "online_retail.csv.gz"
    # The portal benchmark's data, imported and trained once and then reused; migrated to the current code.
    portal_pages._prepare_data(env, dataset=dataset, hybrid_params=args.hybrid_params)
    facts, basket = _bench_user_and_basket()
    endpoints = _endpoints(basket=basket, query=args.query)

    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        server = benchdb.start_configured_gunicorn(
            env, port=args.port, scratch=scratch, wait_path=endpoints[0].path
        )
        try:
            token = _obtain_access_token(args.port)
            queries = _count_queries(endpoints, token=token)
            saturation: dict[str, WrkResult] = {}
            for endpoint in endpoints:
                script = scratch / f"endpoint{endpoints.index(endpoint)}.lua"
                script.write_text(_lua_script(endpoint, token=token))
                url = f"http://127.0.0.1:{args.port}{endpoint.path}"
                print(f"wrk {endpoint.name} ...", flush=True)
                _wrk(wrk, url, script, args=args, seconds=args.warmup)
                saturation[endpoint.name] = _wrk(wrk, url, script, args=args, seconds=args.duration)
            fixed: dict[str, loadgen.FixedRateResult] = {}
            for endpoint in endpoints:
                print(f"fixed rate {endpoint.name} ...", flush=True)
                headers = {} if endpoint.target_ratio is None else {"Authorization": f"Bearer {token}"}
                if endpoint.body is not None:
                    headers["Content-Type"] = "application/json"
                target = loadgen.Target(
                    "127.0.0.1", args.port, endpoint.path, endpoint.method, headers, endpoint.body_bytes
                )
                fixed[endpoint.name] = loadgen.run_fixed_rate(
                    target, rate=args.rate, seconds=args.fixed_seconds, connections=args.fixed_connections
                )
        finally:
            server.terminate()
            server.wait(timeout=30)
            server_problems = _server_problems(scratch / "gunicorn.log")

    print(f"\nMobile API v1 on Online Retail ({args.database_url.rsplit('/', 1)[1]}), DEBUG off, Redis cache")
    for name, value in facts.items():
        print(f"  {name}: {value:,}" if isinstance(value, int) else f"  {name}: {value}")
    _print_saturation(endpoints, saturation, queries, args=args)
    _print_fixed_rate(endpoints, fixed, args=args)
    for endpoint in endpoints:
        count = queries[endpoint.name]
        if count.status != 200:
            print(f"! {endpoint.name} answered {count.status}: {count.sample}")
    if server_problems:
        print(f"! the server logged {len(server_problems)} warnings or errors; the first:")
        print("\n".join(server_problems[:5]))


if __name__ == "__main__":
    main()
