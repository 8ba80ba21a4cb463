"""The Redis cache backend keeps one client per pool and still behaves as Django's."""

from django.core.cache import cache, caches

from smartbasket.cache import RedisCache


def test_the_cache_reuses_one_redis_client_between_calls() -> None:
    assert isinstance(caches["default"], RedisCache)
    cache.set("reuse-check", 3, 5)

    assert cache.get("reuse-check") == 3
    assert cache._cache.get_client(write=True) is cache._cache.get_client(write=True)
