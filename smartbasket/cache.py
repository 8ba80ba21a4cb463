"""Django's Redis cache, keeping one Redis client per connection pool instead of making one per operation.

Django's `RedisCacheClient.get_client` builds a new `redis.Redis` for every cache call; redis-py fills some
300 response callbacks into each new client, which costs about 0.1 ms, several times per API request (the
throttle, the document, the buffered impressions). The pool, its connections and their timeouts are Django's.
"""

from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class _ReusingClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        # The same Redis object for the same pool. A backend and its client belong to one thread (Django's
        # caches are per thread), and a redis-py client is thread-safe anyway.
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _ReusingClient
