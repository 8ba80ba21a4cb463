import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest


@pytest.fixture(autouse=True)
def _static_files_without_manifest(settings: object) -> None:
    # Production serves hashed files from a collectstatic manifest; tests render templates without running
    # collectstatic, so they resolve static URLs straight from the source directories instead.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(scope="session", autouse=True)
def _no_ssl_redirect() -> None:
    # Production (DEBUG off) redirects plain HTTP to HTTPS; the test client and the live server speak plain
    # HTTP, so without this every request would answer 301. Session-wide because the live server builds its
    # middleware (which reads the setting once) before any function-scoped fixture runs. Tests of the redirect
    # itself turn it back on with the `settings` fixture.
    from django.conf import settings

    settings.SECURE_SSL_REDIRECT = False


# --- A real Celery worker process for `@pytest.mark.worker` tests (recommendations pipeline).
# A Redis database of its own, so queued test tasks never reach another test run's workers.
WORKER_REDIS_DB = os.environ.get("SMARTBASKET_WORKER_REDIS_DB", "13")
WORKER_READY_SECONDS = 90


@dataclass
class CeleryWorker:
    name: str
    process: subprocess.Popen
    log_path: Path

    def kill(self) -> None:
        """SIGKILL, as when a machine dies: no cleanup code of the worker runs."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _use_broker(app, url: str) -> None:
    # The app caches its connection pools; forget them (kombu keeps one open pool per URL) so the next publish
    # connects to `url`.
    app.conf.broker_url = url
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def celery_broker() -> Iterator[Callable[[str], None]]:
    """`celery_broker(url)` makes the Celery app publish to `url` for this test; restored at teardown."""
    from smartbasket.celery import app

    previous = app.conf.broker_url
    yield lambda url: _use_broker(app, url)
    _use_broker(app, previous)


def subprocess_database_url() -> str:
    """The test database as a DATABASE_URL, for a process a test starts (a worker, a command)."""
    from django.db import connection

    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def celery_worker(transactional_db, settings, tmp_path: Path) -> Iterator[Callable[[], CeleryWorker]]:
    """`celery_worker()` starts a worker that sees the test database (committed data); killed at teardown."""
    import redis

    from smartbasket.celery import app

    parts = urlsplit(settings.REDIS_URL or "redis://127.0.0.1:6379/0")
    broker = urlunsplit((parts.scheme, parts.netloc, f"/{WORKER_REDIS_DB}", "", ""))
    redis.Redis.from_url(broker).flushdb()
    previous_broker = app.conf.broker_url
    _use_broker(app, broker)
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"
    env = os.environ | {
        "DATABASE_URL": subprocess_database_url(),
        "REDIS_URL": broker,
        "SMARTBASKET_ARTIFACTS_DIR": str(settings.ARTIFACTS_DIR),
        "SECRET_KEY": os.environ.get("SECRET_KEY") or "test-only-secret-key",
        # The worker is a `celery` command, which reads `.env`: a developer's file must not reach tests.
        "SMARTBASKET_ENV_FILE": os.devnull,
    }
    started: list[CeleryWorker] = []

    def start() -> CeleryWorker:
        name = f"pipeline-test-{uuid.uuid4().hex[:8]}@localhost"
        log_path = tmp_path / f"{name.split('@')[0]}.log"
        command = [
            sys.executable, "-m", "celery", "-A", "smartbasket", "worker", "-Q", "celery,recommendations",
            "--pool=solo", "-n", name, "--without-gossip", "--without-mingle", "-l", "info",
        ]  # fmt: skip
        with open(log_path, "wb") as log_file:
            process = subprocess.Popen(
                command, env=env, cwd=settings.BASE_DIR, stdout=log_file, stderr=subprocess.STDOUT
            )
        worker = CeleryWorker(name, process, log_path)
        started.append(worker)
        deadline = time.monotonic() + WORKER_READY_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"Celery worker exited at start-up:\n{worker.log()}")
            if app.control.ping(destination=[name], timeout=0.5):
                return worker
        raise RuntimeError(f"Celery worker not ready after {WORKER_READY_SECONDS}s:\n{worker.log()}")

    yield start
    for worker in started:
        worker.kill()
    redis.Redis.from_url(broker).flushdb()
    _use_broker(app, previous_broker)


# --- A redis-server of the test's own, for tests that stop or hang Redis (never the shared one).


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class RedisServer:
    """A redis-server of this test's own, so it can be paused or stopped without touching the shared one."""

    port: int
    process: subprocess.Popen

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def pause(self) -> None:
        """SIGSTOP: connections are still accepted by the kernel, nothing is ever answered (a hung Redis)."""
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.resume()
            self.process.terminate()
            self.process.wait(timeout=10)

    def restart(self) -> None:
        """Stop it and start an empty one on the same port, as a Redis without persistence comes back."""
        self.stop()
        self.process = _redis_process(self.port)
        _wait_for_redis(self)


def _redis_process(port: int) -> subprocess.Popen:
    return subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )


def _wait_for_redis(server: RedisServer) -> None:
    import redis

    client = redis.Redis(port=server.port, socket_timeout=1)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            return
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                server.stop()
                raise
            time.sleep(0.05)


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    port = free_port()
    server = RedisServer(port, _redis_process(port))
    _wait_for_redis(server)
    yield server
    server.stop()


# The API's throttles count in the shared Redis cache across tests; a rate no test reaches keeps one test's
# requests from throttling the next. Tests of the throttles set their own rates with the `settings` fixture.
UNTHROTTLED = "100000/min"


@pytest.fixture(autouse=True)
def _api_rates_out_of_reach(settings: object) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": dict.fromkeys(
            settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], UNTHROTTLED
        ),
    }


@pytest.fixture(autouse=True)
def _fresh_catalogue_stamp() -> None:
    """Each test starts under a catalogue stamp of its own. Tests roll back instead of committing, so the
    on_commit bump of a product change never runs: without this, a search page or a document cached by an
    earlier test (or an earlier run: Redis outlives them) under the same stamp could answer for this one."""
    from catalog.stamp import catalogue_stamp_bump

    catalogue_stamp_bump()


@pytest.fixture(autouse=True)
def _no_read_through_entries() -> None:
    """Each test starts with no read-through entries (smartbasket/read_through.py: the API's user rows, the
    active version). Ids start again at 1 in each run's new test database, and tests roll back instead of
    committing, so an entry left by an earlier run (Redis outlives them) could stand for another row."""
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    from smartbasket.read_through import KEY_PREFIX, local_entries_clear

    local_entries_clear()
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return
    client = backend._cache.get_client(write=True)
    stale = list(client.scan_iter(match=backend.make_key(KEY_PREFIX + "*"), count=10_000))
    if stale:
        client.delete(*stale)
