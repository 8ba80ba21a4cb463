"""Request rates for the API, with 429 and `Retry-After` (DRF's throttles, counted in the Redis cache).

The token endpoint is throttled per (username, client address) and per client address: the pair stops a
password guesser without locking the real user out of their own address, the address cap stops spraying.
Everything else is throttled per user. A throttle whose cache is down or hung lets the request through: a
Redis outage must cost the rate limit, never the request (axes still counts failed sign-ins in PostgreSQL).
"""

import hashlib
import logging
from typing import TYPE_CHECKING, Any

from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.redis import RedisCache
from rest_framework import throttling
from rest_framework.request import Request
from rest_framework.settings import api_settings

from accounts.login_protection import client_ip_address

if TYPE_CHECKING:
    from rest_framework.views import APIView

logger = logging.getLogger(__name__)


class _FailOpen(throttling.SimpleRateThrottle):
    """A fixed window per key: one counter, incremented by each request and expiring with its window.

    DRF's own throttle keeps the timestamp of every request of the window in one cached list, read and
    written back whole at each request: at 1,000 requests a minute every request copies a thousand floats
    to and from Redis. A counter costs one INCR whatever the rate. The price is the window's edge: a client
    can spend one window's budget at its end and the next one's at the start of the next.
    """

    @property
    def cache(self) -> BaseCache:
        # DRF's class attribute is the proxy `django.core.cache.cache`, never a RedisCache itself: through it
        # `_count` would take the three-command path of other caches on every request.
        return caches["default"]

    def get_rate(self) -> str | None:
        # Read at each request, not frozen at import as DRF's class attribute is, so settings can change it.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request: Request, view: "APIView") -> bool:
        """The key is computed outside the cache guard: it may parse the body (the username), and a bad body
        is the client's 400, not a cache failure."""
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.window_ends = (window + 1) * self.duration
        try:
            count = self._count(f"{key}:{window}")
        except Exception:  # any cache failure (RedisError, a timeout, a refused connection) fails open
            logger.warning("API throttle %s skipped: the cache is unavailable", self.scope, exc_info=True)
            return True
        return count <= self.num_requests

    def _count(self, key: str) -> int:
        """This request's number in the window. On Redis one round trip (INCR and EXPIRE in a pipeline);
        on another cache (the embedded demo's local memory) an ADD for the window's first request, then INCR.
        The counter outlives its window by a second, so a request at the very end still finds it."""
        timeout = self.duration + 1
        if isinstance(self.cache, RedisCache):
            stored = self.cache.make_key(key)
            pipeline = self.cache._cache.get_client(write=True).pipeline(transaction=False)
            pipeline.incr(stored)
            pipeline.expire(stored, timeout)
            count, _ = pipeline.execute()
            return count
        if self.cache.add(key, 1, timeout):
            return 1
        return self.cache.incr(key)

    def wait(self) -> float:
        """Seconds until the window ends (DRF rounds it up into `Retry-After`)."""
        return max(self.window_ends - self.now, 1.0)

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
        # Hashed: a username is anything a client sends, and a cache key should be plain ASCII.
        digest = hashlib.sha256(username.encode()).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": f"{digest}|{self.get_ident(request)}"}


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
