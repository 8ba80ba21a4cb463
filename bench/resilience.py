"""Resilience under load: gunicorn and a Celery worker while Redis stops, hangs and the worker is killed.

Run from the project root: `python bench/resilience.py [--seconds 60] [--clients 50] [--fresh]`.

It uses its own PostgreSQL database (`smartbasket_bench_resilience`, never the development one) and its own
redis-server on a free port (never the shared one): the first run builds a small demo world (`seed_demo`) and
trains a quick model in-process; later runs reuse them. It then starts gunicorn (gunicorn.conf.py), a Celery
worker and beat (smartbasket/beat.py) on loopback and holds `--clients` concurrent clients, half through the
HTML portal (dashboard, basket, add to basket, place the order) and half through the JSON API with a JWT
(recommendations, basket, add, place), each as a retailer of its own. Meanwhile, at fixed fractions of the
run, it stops Redis and starts it again, pauses it (SIGSTOP, a Redis that accepts connections and never
answers) and resumes it, kills the worker (SIGKILL of its whole process group, as when a machine dies) and
starts a new one. After the clients stop it waits for the task outbox to drain, then prints: requests and
errors by status per endpoint, orders confirmed to clients vs orders in the database, and refreshes queued
(outbox rows written with the orders) vs published vs completed by a worker (the outbox rows the workers'
task signals marked done); lost = queued - completed.

Redis runs with its append-only file by default; `--volatile-redis` runs it without, so its restart forgets
the messages published but not yet consumed. The outbox publishes again, with the same task id, what no
worker completed within its redelivery delay (that, and the messages the killed worker held unacknowledged),
so nothing is lost either way. The bench shortens that delay (`--redeliver-seconds`, production: 600 s) so
the drain sees it.
"""

import argparse
import contextlib
import http.client
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from benchdb import ensure_database, free_port, manage, signed_in_session_key, wait_http

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/smartbasket_bench_resilience"
BENCH_PASSWORD = "bench-resilience-password"
QUICK_MODEL = '{"neural": {"epochs": 1, "dim": 8}, "factorization": {"factors": 8}}'
REFRESH_TASK = "recommendations.tasks.refresh_retailer"
CSRF_SECRET = "b" * 32
REQUEST_TIMEOUT = 30
# When in the run each disruption happens, as a fraction of --seconds.
DISRUPTIONS = [
    (0.15, "stop Redis"),
    (0.30, "start Redis"),
    (0.45, "pause Redis (SIGSTOP)"),
    (0.60, "resume Redis (SIGCONT)"),
    (0.70, "kill the worker (SIGKILL)"),
    (0.80, "start a new worker"),
]


class RedisServer:
    """A redis-server of the bench's own, stopped and paused at will."""

    def __init__(self, directory: Path, *, persistent: bool) -> None:
        self.port = free_port()
        self.directory = directory
        self.persistent = persistent
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else []
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "no"] if not self.persistent else persistence
        command += ["--dir", str(self.directory)]
        log = open(self.directory / "redis.log", "ab")  # noqa: SIM115 - kept open for the server's life
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as probe:
                    probe.sendall(b"PING\r\n")
                    if probe.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("redis-server did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)
            self.process.terminate()
            self.process.wait(timeout=30)

    def pause(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)


def _start(command: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    with open(log_path, "ab") as log:
        # A session (and process group) of its own, so the whole group can be killed at once.
        return subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def _kill_group(process: subprocess.Popen, sig: signal.Signals) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        return


def _stop_group(process: subprocess.Popen, timeout: float = 30) -> None:
    if process.poll() is None:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=timeout)
    _kill_group(process, signal.SIGKILL)
    process.wait()


def _worker_command() -> list[str]:
    return [str(BIN / "celery"), "-A", "smartbasket", "worker", "-Q", "celery,recommendations",
            "--concurrency", "2", "--loglevel", "INFO", "--without-gossip", "--without-mingle"]  # fmt: skip


@dataclass
class Results:
    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    confirmed_orders: set[int] = field(default_factory=set)

    def record(self, endpoint: str, status: str, seconds: float) -> None:
        with self.lock:
            self.statuses[endpoint][status] += 1
            self.latencies[endpoint].append(seconds)


class Client(threading.Thread):
    """One retailer member hammering either the portal (session cookie) or the API (JWT)."""

    def __init__(self, *, port: int, kind: str, credential: str, products: list[int], results: Results,
                 stop: threading.Event, seed: int) -> None:  # fmt: skip
        super().__init__(daemon=True)
        self.port, self.kind, self.credential = port, kind, credential
        self.products, self.results, self.stop = products, results, stop
        self.random = random.Random(seed)
        self.connection: http.client.HTTPConnection | None = None

    def _request(
        self, endpoint: str, method: str, path: str, body: str | None = None, headers: dict | None = None
    ) -> tuple[int, bytes, dict[str, str]] | None:
        started = time.monotonic()
        try:
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
            self.connection.request(method, path, body=body, headers={"Host": "127.0.0.1", **(headers or {})})
            response = self.connection.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.results.record(endpoint, type(exc).__name__, time.monotonic() - started)
            if self.connection is not None:
                self.connection.close()
            self.connection = None
            return None
        self.results.record(endpoint, str(response.status), time.monotonic() - started)
        return response.status, payload, {key.lower(): value for key, value in response.getheaders()}

    def run(self) -> None:
        step = 0
        while not self.stop.is_set():
            step += 1
            product = self.random.choice(self.products)
            if self.kind == "html":
                self._html_round(product, place=step % 3 == 0)
            else:
                self._api_round(product, place=step % 3 == 0)

    def _html_round(self, product: int, *, place: bool) -> None:
        cookie = {"Cookie": f"sessionid={self.credential}; csrftoken={CSRF_SECRET}"}
        post = cookie | {"X-CSRFToken": CSRF_SECRET, "Content-Type": "application/x-www-form-urlencoded"}
        self._request("GET /dashboard/", "GET", "/dashboard/", headers=cookie)
        self._request("GET /basket/", "GET", "/basket/", headers=cookie)
        self._request("POST /basket/add/", "POST", "/basket/add/", f"product={product}&quantity=1", post)
        if place:
            answer = self._request("POST /basket/place/", "POST", "/basket/place/", "", post)
            if answer and answer[0] == 302 and (match := re.search(r"/orders/(\d+)/", answer[2]["location"])):
                with self.results.lock:
                    self.results.confirmed_orders.add(int(match.group(1)))

    def _api_round(self, product: int, *, place: bool) -> None:
        auth = {"Authorization": f"Bearer {self.credential}"}
        post = auth | {"Content-Type": "application/json"}
        self._request("GET /api/v1/recommendations/", "GET", "/api/v1/recommendations/", headers=auth)
        self._request("GET /api/v1/basket/", "GET", "/api/v1/basket/", headers=auth)
        change = json.dumps({"product_id": product, "quantity": 1})
        self._request("POST /api/v1/basket/items/", "POST", "/api/v1/basket/items/", change, post)
        if place:
            answer = self._request("POST /api/v1/basket/place/", "POST", "/api/v1/basket/place/", "{}", post)
            if answer and answer[0] == 201:
                with self.results.lock:
                    self.results.confirmed_orders.add(int(json.loads(answer[1])["id"]))


def _prepare(env: dict[str, str], *, retailers: int) -> None:
    from accounts.models import User
    from recommendations.selectors import active_version

    manage(env, "migrate", "--verbosity", "0")
    if not User.objects.filter(username="demo-retailer").exists():
        manage(env, "seed_demo", "--retailers", str(retailers), "--products", "150", "--days", "180")
    if active_version() is None:
        manage(env, "retrain", "--in-process", "--hybrid-params", QUICK_MODEL)
    manage(env, "collectstatic", "--noinput", "--verbosity", "0")


def _bench_users(count: int) -> list:
    """One member per retailer (`bench-N`), all with one password hashed once (PBKDF2 is slow on purpose)."""
    from django.contrib.auth.hashers import make_password

    from accounts.models import Retailer, User

    retailers = list(Retailer.objects.order_by("pk")[:count])
    if len(retailers) < count:
        raise SystemExit(f"only {len(retailers)} retailers for {count} clients: use --fresh with more")
    password = make_password(BENCH_PASSWORD)
    users = []
    for index, retailer in enumerate(retailers):
        user, _ = User.objects.update_or_create(
            username=f"bench-{index}",
            defaults={"role": User.Role.RETAILER, "retailer": retailer, "password": password},
        )
        users.append(user)
    return users


def _access_token(port: int, username: str) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    body = json.dumps({"username": username, "password": BENCH_PASSWORD})
    headers = {"Content-Type": "application/json", "Host": "127.0.0.1"}
    connection.request("POST", "/api/v1/token/", body, headers)
    response = connection.getresponse()
    payload = response.read()
    if response.status != 200:
        raise SystemExit(f"/api/v1/token/ answered {response.status}: {payload[:300]!r}")
    return json.loads(payload)["access"]


def _executed_task_ids(log_path: Path) -> set[str]:
    pattern = re.compile(re.escape(REFRESH_TASK) + r"\[([0-9a-f-]{36})\] succeeded")
    return set(pattern.findall(log_path.read_text(errors="replace"))) if log_path.exists() else set()


@dataclass(frozen=True)
class Refreshes:
    """From the outbox rows written with the bench's orders."""

    queued: set[str]
    published: set[str]
    redelivered: set[str]
    completed: set[str]
    failed: set[str]
    given_up: set[str]

    @property
    def lost(self) -> set[str]:
        return self.queued - self.completed


def _refreshes(started: datetime) -> Refreshes:
    from recommendations.models import TaskOutbox

    rows = TaskOutbox.objects.filter(task_name=REFRESH_TASK, created_at__gte=started)

    def ids(subset) -> set[str]:
        return set(subset.values_list("celery_task_id", flat=True))

    return Refreshes(
        queued=ids(rows),
        published=ids(rows.filter(delivered_at__isnull=False)),
        redelivered=ids(rows.filter(publishes__gt=1)),
        completed=ids(rows.filter(completed_at__isnull=False)),
        failed=ids(rows.filter(completed_at__isnull=False).exclude(task_error="")),
        given_up=ids(rows.filter(gave_up_at__isnull=False)),
    )


def _print_table(results: Results, *, facts: dict[str, object], events: list[tuple[float, str]]) -> bool:
    print("\nResilience bench")
    for name, value in facts.items():
        print(f"  {name}: {value}")
    print("  disruptions: " + "; ".join(f"{at:.1f}s {what}" for at, what in events))
    header = f"{'endpoint':<28}{'requests':>9}{'ok':>7}{'p50':>9}{'p99':>9}  errors by status"
    print(header)
    print("-" * (len(header) + 20))
    five_xx = 0
    for endpoint in sorted(results.statuses):
        counts = results.statuses[endpoint]
        ok = sum(n for status, n in counts.items() if status[:1] in "23")
        errors = {status: n for status, n in counts.items() if status[:1] not in "23"}
        five_xx += sum(n for status, n in errors.items() if status.startswith("5"))
        latencies = sorted(results.latencies[endpoint])
        p50 = statistics.median(latencies) * 1000
        p99 = latencies[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))] * 1000
        shown = ", ".join(f"{status}: {n}" for status, n in sorted(errors.items())) or "-"
        print(f"{endpoint:<28}{sum(counts.values()):>9}{ok:>7}{p50:>7.0f}ms{p99:>7.0f}ms  {shown}")
    total = sum(sum(counts.values()) for counts in results.statuses.values())
    print(f"{'all':<28}{total:>9}")
    return five_xx == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--seconds", type=float, default=60, help="how long the clients run")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (half HTML, half API)")
    parser.add_argument("--web-workers", type=int, default=4, help="gunicorn workers (WEB_CONCURRENCY)")
    parser.add_argument("--drain", type=float, default=90, help="seconds to wait for the outbox to drain")
    parser.add_argument("--fresh", action="store_true", help="drop the bench database and build it again")
    parser.add_argument("--volatile-redis", action="store_true", help="Redis without its append-only file")
    parser.add_argument(
        "--redeliver-seconds",
        type=int,
        default=15,
        help="the outbox's redelivery delay (SMARTBASKET_OUTBOX_REDELIVER_SECONDS; production default 600)",
    )
    args = parser.parse_args()
    if args.database_url.rsplit("/", 1)[1] == "smartbasket":
        sys.exit("refusing to run on the development database")
    if args.clients < 2 or args.seconds < 10:
        sys.exit("--clients must be at least 2 and --seconds at least 10")

    ensure_database(args.database_url, fresh=args.fresh)
    scratch = Path(tempfile.mkdtemp(prefix="smartbasket-resilience-"))
    redis_server = RedisServer(scratch, persistent=not args.volatile_redis)
    redis_server.start()
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "REDIS_URL": redis_server.url,
        "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-only-secret-key-long-enough-for-hmac-sha256",
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        # Plain HTTP on loopback: no redirect to HTTPS, cookies without the Secure flag.
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "SMARTBASKET_ENV_FILE": os.devnull,
        "SMARTBASKET_STATIC_ROOT": str(scratch / "static"),
        "SMARTBASKET_ARTIFACTS_DIR": str(PROJECT_ROOT / "var" / "bench-resilience-artifacts"),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": str(args.web_workers),
        "DJANGO_SETTINGS_MODULE": "smartbasket.settings",
        # A refresh here takes well under a second, so a short delay only risks harmless duplicates.
        "SMARTBASKET_OUTBOX_REDELIVER_SECONDS": str(args.redeliver_seconds),
    }
    os.environ.update(env)
    sys.path.insert(0, str(PROJECT_ROOT))
    import django

    django.setup()
    from catalog.models import Product
    from orders.models import Order

    processes: list[subprocess.Popen] = []
    worker_log = scratch / "worker.log"
    try:
        _prepare(env, retailers=max(60, args.clients + 10))
        users = _bench_users(args.clients)
        products = list(Product.objects.filter(is_active=True).values_list("pk", flat=True)[:80])

        gunicorn = [str(BIN / "gunicorn"), "--config", "gunicorn.conf.py", "smartbasket.wsgi:application"]
        processes.append(_start(gunicorn, env, scratch / "gunicorn.log"))
        worker = _start(_worker_command(), env, worker_log)
        processes.append(worker)
        beat = [PYTHON, "-m", "smartbasket.beat", "--loglevel", "INFO"]
        processes.append(_start(beat, env, scratch / "beat.log"))
        wait_http(port, "/health/ready/", 60)

        results = Results()
        stop = threading.Event()
        clients = []
        for index, user in enumerate(users):
            kind = "html" if index % 2 == 0 else "api"
            credential = signed_in_session_key(user) if kind == "html" else _access_token(port, user.username)
            clients.append(Client(port=port, kind=kind, credential=credential, products=products,
                                  results=results, stop=stop, seed=index))  # fmt: skip
        started_at = datetime.now(UTC)
        started = time.monotonic()
        print(f"{len(clients)} clients, {args.seconds:.0f} s, port {port}; logs in {scratch}", flush=True)
        for client in clients:
            client.start()

        events: list[tuple[float, str]] = []
        for fraction, what in DISRUPTIONS:
            time.sleep(max(0.0, started + fraction * args.seconds - time.monotonic()))
            events.append((time.monotonic() - started, what))
            print(f"  {events[-1][0]:5.1f}s {what}", flush=True)
            if what == "stop Redis":
                redis_server.stop()
            elif what == "start Redis":
                redis_server.start()
            elif what.startswith("pause"):
                redis_server.pause()
            elif what.startswith("resume"):
                redis_server.resume()
            elif what.startswith("kill"):
                _kill_group(worker, signal.SIGKILL)
                worker.wait()
            else:
                worker = _start(_worker_command(), env, worker_log)
                processes.append(worker)
        time.sleep(max(0.0, started + args.seconds - time.monotonic()))
        stop.set()
        for client in clients:
            client.join(timeout=REQUEST_TIMEOUT + 5)
        elapsed = time.monotonic() - started

        # Drain: the periodic delivery publishes what the outages left pending and publishes again what Redis
        # forgot or the killed worker held; the worker runs it and marks it completed.
        drain_started = time.monotonic()
        while time.monotonic() - drain_started < args.drain:
            if not _refreshes(started_at).lost:
                break
            time.sleep(2)
        refreshes = _refreshes(started_at)
        executed = refreshes.queued & _executed_task_ids(worker_log)
        drained = time.monotonic() - drain_started

        bench_retailers = [user.retailer_id for user in users]
        in_database = set(
            Order.objects.filter(
                retailer_id__in=bench_retailers, status=Order.Status.PLACED, placed_at__gte=started_at
            ).values_list("pk", flat=True)
        )
        confirmed = results.confirmed_orders
        facts = {
            "clients": f"{len(clients)} ({len(clients[::2])} HTML, {len(clients[1::2])} API) {elapsed:.1f} s",
            "gunicorn workers": args.web_workers,
            "Redis": "append-only file" if redis_server.persistent else "no persistence",
            "outbox redelivery delay": f"{args.redeliver_seconds} s",
            "orders confirmed to clients (2xx/302)": len(confirmed),
            "orders placed in the database": len(in_database),
            "confirmed but not in the database": len(confirmed - in_database),
            "in the database but not confirmed (client saw an error)": len(in_database - confirmed),
            "refreshes queued (outbox rows, written with the orders)": len(refreshes.queued),
            "refreshes published to the broker": len(refreshes.published),
            "refreshes published more than once (not completed within the delay)": len(refreshes.redelivered),
            "refreshes completed by a worker (outbox)": len(refreshes.completed),
            "  of which failed for good": len(refreshes.failed),
            "refreshes given up": len(refreshes.given_up),
            "refreshes lost (queued - completed)": len(refreshes.lost),
            "cross-check: completed refreshes with a success line in the worker log": len(
                refreshes.completed & executed
            ),
            "drain": f"{drained:.0f} s",
        }
        no_5xx = _print_table(results, facts=facts, events=events)
        lost_orders = len(confirmed - in_database)
        lost_refreshes = len(refreshes.lost)
        verdict = "nothing lost" if not lost_orders and not lost_refreshes else "LOST WORK"
        print(
            f"\n{verdict}: {lost_orders} confirmed orders missing, {lost_refreshes} refreshes lost; "
            f"{'no 5xx' if no_5xx else 'SOME 5xx ANSWERS'}"
        )
    finally:
        for process in reversed(processes):
            _stop_group(process)
        redis_server.stop()


if __name__ == "__main__":
    main()
