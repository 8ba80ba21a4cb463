"""Request ids and quiet, one-line request logging.

Every request gets an id (a sane incoming `X-Request-ID`, else a new one), returned in the `X-Request-ID`
response header and logged on one structured line with method, path, status, duration and user. The id lives
in a context variable so every log line written while serving the request carries it, and so does work the
request queues: the task outbox stores it and sends it as a Celery task header, and the worker restores it
around the task (smartbasket/celery.py), so a task's log lines name the request that asked for it.
"""

import logging
import re
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse
from django.utils.encoding import iri_to_uri

REQUEST_ID_HEADER = "X-Request-ID"
# Shown where no request is being served (start-up, beat, a task queued from the shell).
NO_REQUEST_ID = "-"
# A proxy's or client's id is kept only if it cannot break a log line or a header: short, no spaces.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@+=-]{1,64}")

request_id_var: ContextVar[str] = ContextVar("request_id", default=NO_REQUEST_ID)

logger = logging.getLogger("smartbasket.request")


def current_request_id() -> str:
    return request_id_var.get()


def request_id_or_new(candidate: str | None) -> str:
    if candidate and _SANE_REQUEST_ID.fullmatch(candidate):
        return candidate
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Gives every record a `request_id` attribute, so formats can print `%(request_id)s`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class ClientErrorWithoutTraceback(logging.Filter):
    """`django.request` attaches the exception to its 403 and 404 warnings, so each prints a traceback; an
    expected client error (4xx) is one line. Server errors (5xx) keep their traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if isinstance(status, int) and 400 <= status < 500:
            record.exc_info = None
            record.exc_text = None
        return True


class RequestLogMiddleware:
    """One line per request: `method=GET path=/x status=200 duration_ms=3.1 user=7 request_id=...`."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_or_new(request.headers.get(REQUEST_ID_HEADER))
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            duration_ms = (time.perf_counter() - started) * 1000
            response[REQUEST_ID_HEADER] = request_id
            user = getattr(request, "user", None)
            user_id = user.pk if user is not None and user.is_authenticated else None
            # The path without its query string (which may carry tokens), escaped so it stays one field.
            path = iri_to_uri(request.path)
            logger.info(
                "method=%s path=%s status=%s duration_ms=%.1f user=%s request_id=%s",
                request.method,
                path,
                response.status_code,
                duration_ms,
                user_id if user_id is not None else "-",
                request_id,
                extra={
                    "http_method": request.method,
                    "http_path": path,
                    "status_code": response.status_code,
                    "duration_ms": round(duration_ms, 1),
                    "user_id": user_id,
                },
            )
            return response
        finally:
            request_id_var.reset(token)
