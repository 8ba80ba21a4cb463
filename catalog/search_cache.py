"""The API's catalogue search pages, cached as the bytes sent, under the catalogue stamp.

A search page is the same for every retailer (the API's product shape holds nothing of the retailer's own;
a `bought` filter, which does, is never cached) and changes only with the catalogue, which bumps the stamp
(catalog/stamp.py). So a page is kept with the stamp it was made under, read with the current stamp in one
round trip, and made anew when the stamp has moved on. Redis down: every page is made from PostgreSQL.
"""

import hashlib
import logging
from collections.abc import Callable

from django.core.cache import cache

from catalog.stamp import CATALOGUE_STAMP_KEY, catalogue_stamp_current

logger = logging.getLogger(__name__)

# Pages of a stamp nobody reads any more leave by themselves; a page is never stale, whatever its age.
PAGE_SECONDS = 10 * 60


def _key(identity: str) -> str:
    # Hashed: the identity holds whatever a client put in the query string.
    return f"catalogue:page:{hashlib.sha256(identity.encode()).hexdigest()}"


def search_page_read(*, identity: str, build: Callable[[], bytes]) -> bytes:
    """The page named by `identity` (everything the answer depends on: the URL with its query, the page size),
    from the cache when made under the current stamp, else made by `build` and cached."""
    key = _key(identity)
    try:
        found = cache.get_many([CATALOGUE_STAMP_KEY, key])
    except Exception as error:  # any client error of a down or hung Redis
        logger.warning("search page cache unavailable, reading PostgreSQL: %s", error)
        return build()
    stamp = catalogue_stamp_current(found.get(CATALOGUE_STAMP_KEY))
    cached = found.get(key)
    if stamp is not None and cached is not None and cached[0] == stamp:
        return cached[1]
    body = build()
    if stamp is not None:
        try:
            cache.set(key, (stamp, body), PAGE_SECONDS)
        except Exception as error:  # any client error of a down or hung Redis
            logger.warning("search page not cached: %s", error)
    return body
