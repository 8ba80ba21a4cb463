"""gunicorn's configuration (read from the project root by `gunicorn smartbasket.wsgi:application`).

Everything an operator tunes comes from the environment; see the README's Production section.
Graceful restart: `kill -HUP <master pid>` starts new workers with fresh code and lets the old ones finish
their requests (up to `graceful_timeout`); SIGTERM stops the same graceful way, SIGINT/SIGQUIT at once.
"""

import multiprocessing
import os

from smartbasket.env import load_env_file

# The settings below may come from `.env` too, and gunicorn reads this file before it imports the application.
load_env_file()


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    if not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from None
    if value < 1:
        raise SystemExit(f"{name} must be at least 1, got {value}")
    return value


# Loopback unless told otherwise: in production a reverse proxy terminates TLS in front of it.
bind = [address.strip() for address in os.environ.get("GUNICORN_BIND", "127.0.0.1:8000").split(",")]
# gunicorn's own convention (WEB_CONCURRENCY); the default is the classic 2 x cores + 1, capped so a large
# machine does not open more PostgreSQL connections than the database allows.
workers = _int("WEB_CONCURRENCY", min(2 * multiprocessing.cpu_count() + 1, 9))
# More than one thread switches to the threaded worker, for slow clients without a buffering proxy.
threads = _int("GUNICORN_THREADS", 1)
# A request running longer than this is killed; every page and API call is well under a second, and
# enqueueing is bounded by the Redis timeouts, so this only catches something truly stuck.
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = 5
# Recycle workers now and then so slow leaks in a long-lived process cannot build up.
max_requests = _int("GUNICORN_MAX_REQUESTS", 2000)
max_requests_jitter = max_requests // 10

accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# The request's path and query, status, size, duration (microseconds) and its request id.
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(D)sus rid=%({x-request-id}o)s "%(a)s"'
# The worker heartbeat file on a memory file system: a slow disk must not make gunicorn kill healthy workers.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
proc_name = "smartbasket"
# gunicorn's control socket (for `gunicornc`) defaults to one path per user, so every gunicorn of that user
# (a second instance, a benchmark, a test) would take it over from the others: only where asked for.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "")
control_socket_disable = not control_socket
