"""Login protection with django-axes: who the client is, when it is locked out, and what it is told.

The policy itself (limits, cool-off, what is counted) is in the settings block "login protection".
"""

import ipaddress
import math
from datetime import datetime

from axes.backends import AxesStandaloneBackend
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max, QuerySet, Sum
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone

from smartbasket.api.shape import error_body


class LockoutBackend(AxesStandaloneBackend):
    """Refuses a locked-out client before any password is hashed.

    A call without a request (a shell, a management command, the test client's `login()`) comes from the
    server itself, with no client address to count failures against, so it is passed on to the next backend
    instead of failing as axes' own backend does.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: object,
    ) -> None:
        if request is None:
            return None
        # The JWT endpoint passes DRF's request wrapper; the lockout flag must land on the HttpRequest that
        # the middleware sees.
        return super().authenticate(getattr(request, "_request", request), username, password, **kwargs)


def _recent_attempts(request: HttpRequest) -> QuerySet[AccessAttempt]:
    since = request.axes_attempt_time - get_cool_off(request)
    return AccessAttempt.objects.filter(ip_address=request.axes_ip_address, attempt_time__gte=since)


def _address_failures(request: HttpRequest) -> int:
    return _recent_attempts(request).aggregate(total=Sum("failures_since_start"))["total"] or 0


class LoginProtectionHandler(AxesDatabaseHandler):
    """Axes' database handler plus the per-address limit (`AXES_ADDRESS_FAILURE_LIMIT`, see settings)."""

    def get_failures(self, request: HttpRequest, credentials: dict | None = None) -> int:
        failures = super().get_failures(request, credentials)
        if _address_failures(request) >= settings.AXES_ADDRESS_FAILURE_LIMIT:
            return max(failures, get_failure_limit(request, credentials))
        return failures


def client_ip_address(request: HttpRequest) -> str | None:
    """The client address from `CLIENT_IP_HEADER`, falling back to the connection's own address.

    For a list such as X-Forwarded-For the right-most entry is used: it is the one our proxy appended, while
    anything to its left was sent by the client. A value that is not an IP address (a misconfigured proxy)
    falls back too, because it could not be stored and must never break a login.
    """
    remote_addr = request.META.get("REMOTE_ADDR")
    raw = request.META.get(settings.CLIENT_IP_HEADER, "")
    candidate = raw.rsplit(",", 1)[-1].strip()
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote_addr


def _lockout_ends_at(request: HttpRequest, username: str) -> tuple[datetime, bool]:
    """When the lockout ends, and whether it is the whole address (spraying) rather than this username."""
    attempts = _recent_attempts(request)
    address_wide = _address_failures(request) >= settings.AXES_ADDRESS_FAILURE_LIMIT
    if not address_wide:
        attempts = attempts.filter(username=username)
    latest = attempts.aggregate(latest=Max("attempt_time"))["latest"] or request.axes_attempt_time
    return latest + get_cool_off(request), address_wide


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None
) -> HttpResponse:
    """The page shown instead of the login form's answer once a client is locked out (status 429)."""
    username = get_client_username(request, credentials) or ""
    ends_at, address_wide = _lockout_ends_at(request, username)
    seconds = max(1, math.ceil((ends_at - timezone.now()).total_seconds()))
    context = {
        "username": username,
        "address_wide": address_wide,
        "ends_at": ends_at,
        "minutes": math.ceil(seconds / 60),
        "failure_limit": settings.AXES_FAILURE_LIMIT,
    }
    if request.path.startswith("/api/"):
        message = (
            f"Too many failed sign-ins from this address. Try again in {context['minutes']} minutes, "
            "or ask SmartBasket staff to lift the pause."
        )
        response = JsonResponse(error_body(code="locked_out", message=message), status=429)
    else:
        response = render(request, "accounts/locked_out.html", context, status=429)
    response["Retry-After"] = str(seconds)
    return response
