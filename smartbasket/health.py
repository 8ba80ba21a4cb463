"""Health endpoints (django-health-check 4): `/health/` for monitoring, `/health/ready/` for load balancers.

`/health/` reports everything an operator is paged for: PostgreSQL, the cache and the broker (Redis), a Celery
worker consuming every queue, the static files manifest and the active model version's age. `/health/ready/`
reports only what a web process needs to answer requests (PostgreSQL and the static files): a stopped worker,
a Redis outage or a stale model degrade the service but must not take every web node out of the balancer,
since placing orders keeps working through the task outbox.

Both are public and terse on purpose: a check's name and "OK" or a fixed, short reason, never a host name, a
port or an exception text, so probes need no credentials and a visitor learns nothing worth knowing.
Each answers 200 when every check passes and 503 otherwise, as JSON with `Accept: application/json` or
`?format=json` (also text, HTML, Atom/RSS and OpenMetrics, from the library).

Every check is bounded: a client timeout of a second or two, and the library's wall-clock budget per check.
The checks run in a thread pool that the response does not wait for, so a hung Redis answering nothing costs
a probe about two seconds instead of holding it until the socket gives up.
"""

import contextlib
import dataclasses
import datetime
import logging
import uuid
from collections.abc import Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, ClassVar

import redis.asyncio
from django.conf import settings
from django.core.cache import caches
from django.http import HttpResponse, JsonResponse
from health_check import checks
from health_check.base import HealthCheck
from health_check.contrib.celery import Ping
from health_check.contrib.redis import Redis
from health_check.exceptions import HealthCheckException, ServiceUnavailable
from health_check.views import HealthCheckView
from redis.backoff import NoBackoff
from redis.retry import Retry

from smartbasket.celery import app as celery_app
from smartbasket.static_manifest import static_manifest_missing

CLIENT_TIMEOUT_SECONDS = 1


class _FailureOnOneLine(logging.Filter):
    """The library logs each failed check with a traceback; a dependency being down is expected: one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HealthCheckException | TimeoutError):
            record.msg = f"{record.msg}: %s"
            record.args = (*(record.args or ()), error)
            record.exc_info = None
        return True


logging.getLogger("health_check").addFilter(_FailureOnOneLine())


class _Named:
    """A fixed public name for a check: its repr keys the reports, and the library's repr shows hosts."""

    name: ClassVar[str]

    def __repr__(self) -> str:
        return self.name

    @property
    def labels(self) -> dict[str, str]:
        return {"check": self.name}


class Database(_Named, checks.Database):
    name = "database"
    timeout = datetime.timedelta(seconds=3)

    def run(self) -> None:
        try:
            super().run()
        except HealthCheckException as exc:
            raise ServiceUnavailable("Cannot query PostgreSQL") from exc


@dataclasses.dataclass(repr=False)
class Cache(_Named, HealthCheck):
    """Writes and reads back a key through Django's cache.

    Synchronous on purpose: the library's async variant runs the blocking cache client on the request's own
    thread, where a hung Redis would hold the response past every budget.
    """

    name = "cache"
    alias: str = "default"
    timeout = datetime.timedelta(seconds=2)

    def run(self) -> None:
        cache = caches[self.alias]
        # A key per probe: concurrent probes (several balancers) must not read each other's value.
        key = f"health-check:{uuid.uuid4().hex}"
        value = datetime.datetime.now(datetime.UTC).isoformat()
        try:
            cache.set(key, value, timeout=10)
            read = cache.get(key)
        except Exception as exc:  # Any client error means the same thing here: the cache does not work.
            raise ServiceUnavailable("Cannot write and read the cache") from exc
        if read != value:
            raise ServiceUnavailable("The cache returned another value than was written")


def _broker_client() -> redis.asyncio.Redis:
    return redis.asyncio.Redis.from_url(
        settings.CELERY_BROKER_URL,
        socket_connect_timeout=CLIENT_TIMEOUT_SECONDS,
        socket_timeout=CLIENT_TIMEOUT_SECONDS,
        # One attempt: a probe retrying a hung server would only report later what it already knows.
        retry=Retry(NoBackoff(), 0),
    )


class Broker(_Named, Redis):
    name = "broker"
    timeout = datetime.timedelta(seconds=2)

    def __init__(self) -> None:
        super().__init__(client_factory=_broker_client)

    async def run(self) -> None:
        try:
            await super().run()
        except HealthCheckException as exc:
            raise ServiceUnavailable("Cannot reach the Celery broker (Redis)") from exc


def _required_queues() -> set[str]:
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values() if "queue" in route}
    return {settings.CELERY_TASK_DEFAULT_QUEUE, *routed}


class CeleryWorker(_Named, Ping):
    """A worker answers a ping within a second, and every queue we route tasks to has a consumer."""

    name = "celery worker"

    def __init__(self) -> None:
        super().__init__(app=celery_app, timeout=datetime.timedelta(seconds=CLIENT_TIMEOUT_SECONDS), limit=1)

    def run(self) -> None:
        try:
            replies = self.app.control.ping(timeout=self.timeout.total_seconds(), limit=self.limit)
        except Exception as exc:  # The broker refused, timed out or dropped us: no worker can be reached.
            raise ServiceUnavailable("Cannot reach the Celery broker to ping a worker") from exc
        if not replies:
            raise ServiceUnavailable("No Celery worker answered")
        self.check_active_queues(*self.active_workers(replies))

    def check_active_queues(self, *workers: str) -> None:
        try:
            inspect = self.app.control.inspect(
                list(workers), timeout=self.timeout.total_seconds(), limit=len(workers)
            )
            replies = inspect.active_queues() or {}
        except Exception as exc:  # As above: the broker is the only way to ask.
            raise ServiceUnavailable("Cannot reach the Celery broker to list the queues") from exc
        consumed = {queue.get("name") for queues in replies.values() for queue in queues}
        missing = sorted(_required_queues() - consumed)
        if missing:
            raise ServiceUnavailable(f"No worker consumes the queue(s) {', '.join(missing)}")


@dataclasses.dataclass(repr=False)
class StaticFiles(_Named, HealthCheck):
    name = "static files"
    timeout = datetime.timedelta(seconds=2)

    def run(self) -> None:
        if static_manifest_missing():
            raise ServiceUnavailable("The static files manifest is missing: run collectstatic")


def monitoring_checks() -> list[type[HealthCheck] | str]:
    found: list[type[HealthCheck] | str] = [Database, Cache, StaticFiles]
    # Without REDIS_URL (the embedded demo) tasks run in-process: there is neither broker nor worker to ask.
    if settings.REDIS_URL:
        found += [Broker, CeleryWorker]
    return [*found, "recommendations.health.ActiveModelVersion"]


def readiness_checks() -> list[type[HealthCheck] | str]:
    return [Database, StaticFiles]


class SmartBasketHealthView(HealthCheckView):
    @contextlib.contextmanager
    def get_executor(self) -> Iterator[Executor]:
        # The default executor is joined when the request's event loop closes, and a `with` pool on exit:
        # either would wait for a check stuck on a hung server. This pool is released without waiting; a stuck
        # thread ends on its own when its client timeout fires.
        pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="health-check")
        try:
            yield pool
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    async def dispatch(self, request, *args, **kwargs) -> HttpResponse:
        response = await super().dispatch(request, *args, **kwargs)
        # The library answers a failed check with 500; 503 is what it is, and keeps error-rate alerts that
        # watch for 500 (a bug) quiet while a dependency is down.
        if response.status_code == 500:
            response.status_code = 503
        return response

    def _status_text(self, result: Any) -> str:
        return str(result.error) if result.error else result.check.pretty_status()

    def render_to_response_json(self, status: int) -> JsonResponse:
        report = {repr(result.check): self._status_text(result) for result in self.results}
        return JsonResponse(report, status=status)

    def render_to_response_text(self, status: int) -> HttpResponse:
        lines = (f"{result.check!r}: {self._status_text(result)}" for result in self.results)
        return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; charset=utf-8", status=status)
