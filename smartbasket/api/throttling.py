"""Request rates for the API, with 429 and `Retry-After` (DRF's throttles, counted in the Redis cache).

The token endpoint is throttled per (username, client address) and per client address: the pair stops a
password guesser without locking the real user out of their own address, the address cap stops spraying.
Everything else is throttled per user. A throttle whose cache is down or hung lets the request through: a
Redis outage must cost the rate limit, never the request (axes still counts failed sign-ins in PostgreSQL).
"""

import logging
from typing import TYPE_CHECKING, Any

from rest_framework import throttling
from rest_framework.request import Request
from rest_framework.settings import api_settings

from accounts.login_protection import client_ip_address

if TYPE_CHECKING:
    from rest_framework.views import APIView

logger = logging.getLogger(__name__)


class _FailOpen(throttling.SimpleRateThrottle):
    def get_rate(self) -> str | None:
        # Read at each request, not frozen at import as DRF's class attribute is, so settings can change it.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request: Request, view: "APIView") -> bool:
        """DRF's sliding window, with the cache calls guarded. The key is computed outside the guard: it may
        parse the body (the username), and a bad body is the client's 400, not a cache failure."""
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        try:
            self.history = self.cache.get(self.key, [])
        except Exception:  # any cache failure (RedisError, a timeout, a refused connection) fails open
            return self._skipped()
        self.now = self.timer()
        while self.history and self.history[-1] <= self.now - self.duration:
            self.history.pop()
        if len(self.history) >= self.num_requests:
            return self.throttle_failure()
        try:
            return self.throttle_success()
        except Exception:
            return self._skipped()

    def _skipped(self) -> bool:
        logger.warning("API throttle %s skipped: the cache is unavailable", self.scope, exc_info=True)
        return True

    def get_ident(self, request: Request) -> str:
        return client_ip_address(request._request) or "unknown"


class UserRateThrottle(_FailOpen):
    """Per signed-in user; an anonymous request is counted by its client address."""

    scope = "user"

    def get_cache_key(self, request: Request, view: "APIView") -> str:
        ident = request.user.pk if request.user and request.user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


class TokenUsernameThrottle(_FailOpen):
    scope = "token_username"

    def get_cache_key(self, request: Request, view: "APIView") -> str | None:
        username = _username_of(request.data)
        if not username:
            return None
        return self.cache_format % {"scope": self.scope, "ident": f"{username}|{self.get_ident(request)}"}


class TokenAddressThrottle(_FailOpen):
    """Sign-ins per client address, whatever the username (password spraying)."""

    scope = "token_address"

    def get_cache_key(self, request: Request, view: "APIView") -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class TokenRenewalThrottle(_FailOpen):
    """Refresh, verify and logout per client address, at the looser anonymous rate and in a counter of their
    own: apps behind one NAT address renewing tokens must not use up the sign-in budget of that address.
    Guessing is pointless here (a refresh token is a signed 256-bit secret), so this only caps floods."""

    scope = "anon"
    cache_format = "throttle_token_renewal_%(ident)s"

    def get_cache_key(self, request: Request, view: "APIView") -> str:
        return self.cache_format % {"ident": self.get_ident(request)}


def _username_of(data: Any) -> str:
    value = data.get("username") if hasattr(data, "get") else None
    # Case-folded and bounded: "Alice" and "alice " are the same target, and a megabyte name is no key.
    return str(value).strip().casefold()[:150] if isinstance(value, str) else ""
