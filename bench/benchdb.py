"""What the benchmarks share: their own database, `manage.py`, gunicorn, signed-in sessions, page timings.

Imported by the scripts in this folder (run as `python bench/NAME.py`, so this folder is on `sys.path`):
a PostgreSQL database of the benchmark's own, `manage.py` against it and a free port; a session made directly
in the database for a user; waiting for a server to answer. For the page benchmarks (portal_pages.py,
vendor_pages.py) also their common options, Django set up on their database (plain HTTP on loopback), gunicorn
started with an access log of each request's duration, pages measured one request at a time after a warm-up
with the server times read from that log, and the percentiles and table cells of the results. The helpers
that use Django import it inside them, once `setup_django` (or the script) has set it up.
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
# gunicorn's access log line: path (without the query string), status and the duration in microseconds.
ACCESS_LOG_FORMAT = "%(U)s %(s)s %(D)s"
# How long gunicorn may take to flush the access log lines of the requests just answered.
LOG_FLUSH_SECONDS = 0.5


@dataclass(frozen=True)
class Page:
    name: str
    path: str
    htmx_target: str = ""
    # Requested without the session cookie (a reference page such as the sign-in).
    anonymous: bool = False


@dataclass
class Timings:
    page: Page
    statuses: list[int]
    client_ms: list[float]
    server_ms: list[float]


def ensure_database(url: str, *, fresh: bool) -> None:
    """Create the benchmark's database if it is missing; `fresh` drops it first."""
    name = url.rsplit("/", 1)[1]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and fresh:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
            exists = None
        if not exists:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def manage(env: dict[str, str], *args: str) -> None:
    print(f"$ manage.py {' '.join(args)}", flush=True)
    subprocess.run([PYTHON, "manage.py", *args], cwd=PROJECT_ROOT, env=env, check=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def add_page_arguments(
    parser: argparse.ArgumentParser, *, database_url: str, requests: int, port: int
) -> None:
    """The options of every page benchmark: its database, the measured requests, gunicorn's workers, port."""
    parser.add_argument("--database-url", default=database_url)
    parser.add_argument("--requests", type=int, default=requests, help="measured requests per page")
    parser.add_argument("--workers", type=int, default=5)
    parser.add_argument("--port", type=int, default=port)


def check_page_arguments(args: argparse.Namespace) -> None:
    if args.database_url.rsplit("/", 1)[1] == "smartbasket":
        sys.exit("refusing to run on the development database")
    if args.requests < 1:
        sys.exit("--requests must be at least 1")


def setup_django(database_url: str, **extra: str) -> dict[str, str]:
    """Set Django up in this process on the bench database; the environment for manage.py and gunicorn."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-secret-key"),
        "DEBUG": "0",
        # testserver: the in-process test client of vendor_pages.py --queries.
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        # gunicorn serves plain HTTP on loopback; production's redirect to HTTPS would answer every request.
        "SECURE_SSL_REDIRECT": "false",
        "DJANGO_SETTINGS_MODULE": "smartbasket.settings",
        **extra,
    }
    os.environ.update(env)
    sys.path.insert(0, str(PROJECT_ROOT))
    import django

    django.setup()
    return env


def signed_in_session_key(user: AbstractBaseUser) -> str:
    """The key of a new database session in which `user` is signed in, as `login()` would leave it."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    # The last backend signs users in; the first only refuses locked-out sign-ins (django-axes).
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[-1]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key


def wait_http(port: int, path: str, timeout: float, *, server: subprocess.Popen | None = None) -> None:
    """Return once the server on the loopback `port` answers `path`; exit if it does not within `timeout`.

    Given the `server` process, exit at once when it has stopped (a worker that cannot boot stops gunicorn).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server is not None and server.poll() is not None:
            raise SystemExit(f"the server stopped (exit code {server.returncode}) before it answered {path}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", path, headers={"Host": "127.0.0.1"})
            connection.getresponse().read()
            return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"gunicorn did not answer {path} within {timeout:.0f} s")


def start_gunicorn(env: dict[str, str], *, port: int, workers: int, access_log: Path) -> subprocess.Popen:
    """gunicorn serving the project on loopback `port`, logging each request's duration to `access_log`."""
    command = [
        str(Path(PYTHON).with_name("gunicorn")),
        "smartbasket.wsgi:application",
        "--workers",
        str(workers),
        "--bind",
        f"127.0.0.1:{port}",
        "--access-logfile",
        str(access_log),
        "--access-logformat",
        ACCESS_LOG_FORMAT,
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env)
    try:
        wait_http(port, "/login/", 30)
    except SystemExit:
        server.terminate()
        raise
    return server


def get_page(connection: http.client.HTTPConnection, page: Page, cookie: str) -> tuple[int, float]:
    """GET the page (with the session cookie unless anonymous, as htmx if it has a target): status and ms."""
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


def server_times(access_log: Path, offset: int, path: str) -> list[float]:
    """gunicorn's durations in ms of the requests for `path` logged after byte `offset` of the access log."""
    with access_log.open() as log:
        log.seek(offset)
        lines = log.readlines()
    # gunicorn's %(U)s is the path without the query string.
    bare_path = path.split("?", 1)[0]
    return [int(line.split()[2]) / 1000 for line in lines if line.split()[0] == bare_path]


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (`fraction` 0.5 is the median); NaN when there are no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


# The columns of a page's timings in the scripts' tables, after the page's name; see `timing_cells`.
TIMING_COLUMNS = (
    f"{'requests':>9}{'non-200':>9}{'server p50':>12}{'server p99':>12}{'client p50':>12}{'client p99':>12}"
)


def timing_cells(result: Timings) -> str:
    """One page's `TIMING_COLUMNS`: requests, non-200 answers, server and client p50 and p99."""
    bad = sum(1 for status in result.statuses if status != 200)
    return (
        f"{len(result.statuses):>9}{bad:>9}"
        f"{percentile(result.server_ms, 0.5):>10.1f}ms{percentile(result.server_ms, 0.99):>10.1f}ms"
        f"{percentile(result.client_ms, 0.5):>10.1f}ms{percentile(result.client_ms, 0.99):>10.1f}ms"
    )


def measure_pages(
    env: dict[str, str],
    pages: list[Page],
    *,
    session_key: str,
    args: argparse.Namespace,
    warmup: int,
    timeout: float,
) -> list[Timings]:
    """Start gunicorn and request each page `args.requests` times, one at a time, after `warmup` requests.

    `args` holds the options of `add_page_arguments`; the session is sent as its cookie.
    """
    from django.conf import settings

    cookie = f"{settings.SESSION_COOKIE_NAME}={session_key}"
    port, requests = args.port, args.requests
    with tempfile.TemporaryDirectory() as scratch:
        access_log = Path(scratch) / "access.log"
        access_log.touch()
        server = start_gunicorn(env, port=port, workers=args.workers, access_log=access_log)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            results = []
            for page in pages:
                for _ in range(warmup):
                    get_page(connection, page, cookie)
                # Let gunicorn flush the warm-up lines so they are not counted.
                time.sleep(LOG_FLUSH_SECONDS)
                offset = access_log.stat().st_size
                statuses, client_ms = [], []
                for _ in range(requests):
                    status, elapsed = get_page(connection, page, cookie)
                    statuses.append(status)
                    client_ms.append(elapsed)
                time.sleep(LOG_FLUSH_SECONDS)
                server_ms = server_times(access_log, offset, page.path)
                timings = Timings(page=page, statuses=statuses, client_ms=client_ms, server_ms=server_ms)
                results.append(timings)
        finally:
            connection.close()
            server.terminate()
            server.wait(timeout=30)
    return results


def start_configured_gunicorn(
    env: dict[str, str], *, port: int, scratch: Path, wait_path: str, access_log: bool = False
) -> subprocess.Popen:
    """gunicorn as the project's gunicorn.conf.py configures it (worker class, threads, timeouts) on `port`.

    `env` sets what the configuration reads (WEB_CONCURRENCY, GUNICORN_THREADS, ...). gunicorn's access log
    is off unless asked for: the project's request log already writes a line per request, and a second one
    would cost the throughput benchmarks CPU they share with the server. A configuration in `scratch` runs
    the project's and then changes only that. The server's output goes to `scratch`/gunicorn.log, not the
    benchmark's table: thousands of request lines a second.
    """
    config = scratch / "gunicorn.bench.conf.py"
    project_config = PROJECT_ROOT / "gunicorn.conf.py"
    lines = [f"exec(compile(open({str(project_config)!r}).read(), {str(project_config)!r}, 'exec'))"]
    if not access_log:
        lines.append("accesslog = None")
    config.write_text("\n".join(lines) + "\n")
    command = [
        str(Path(PYTHON).with_name("gunicorn")),
        "smartbasket.wsgi:application",
        "--config",
        str(config),
        "--bind",
        f"127.0.0.1:{port}",
    ]
    with (scratch / "gunicorn.log").open("ab") as output:
        server = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_http(port, wait_path, 60, server=server)
    except SystemExit:
        server.terminate()
        print(*(scratch / "gunicorn.log").read_text(errors="replace").splitlines()[-20:], sep="\n")
        raise
    return server
