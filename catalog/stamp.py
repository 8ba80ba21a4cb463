"""The catalogue stamp: a token in the cache that changes after any product, category or vendor change.

Whatever is cached with products in it (the recommendation documents, the API's search pages) carries the
stamp it was made under and is made anew when the stamp has moved on, so no cache serves a price or a name
that has changed. Bumped after commit, by these signals and by the transaction import.
"""

import logging
import secrets
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from catalog.models import Category, Product
from vendors.models import Vendor

logger = logging.getLogger(__name__)

CATALOGUE_STAMP_KEY = "catalogue:stamp"


def _new_stamp() -> int:
    # An integer: Django's Redis cache stores integers as plain digits, so a Lua script can compare the stamp
    # with the one an entry was made under (recommendations/answers.py). 63 random bits never repeat in use.
    return secrets.randbits(63)


def catalogue_stamp_bump() -> None:
    """Mark everything cached with products as stale. Run after commit: a cache entry made before the change
    is visible would carry the new stamp with the old products. Redis down costs the bump, never the caller
    (the caches it would have invalidated are down with it)."""
    try:
        cache.set(CATALOGUE_STAMP_KEY, _new_stamp(), None)
    except Exception as error:  # any client error of a down or hung Redis
        logger.warning("catalogue stamp bump failed: %s", error)


def catalogue_stamp_current(found: object) -> int | None:
    """The stamp, given what a read found under CATALOGUE_STAMP_KEY; a cache that lost it (flushed, evicted)
    starts a new one, which makes every cached entry anew once, and so does a stamp of an earlier form (a
    hex string). None when Redis is unreachable."""
    if isinstance(found, int):
        return found
    stamp = _new_stamp()
    try:
        if found is not None:
            cache.set(CATALOGUE_STAMP_KEY, stamp, None)
            return stamp
        if cache.add(CATALOGUE_STAMP_KEY, stamp, None):
            return stamp
        current = cache.get(CATALOGUE_STAMP_KEY)
    except Exception as error:  # any client error of a down or hung Redis
        logger.warning("catalogue stamp unavailable: %s", error)
        return None
    return current if isinstance(current, int) else stamp


def _catalogue_changed(sender: type, **kwargs: Any) -> None:
    transaction.on_commit(catalogue_stamp_bump)


for _model in (Product, Category, Vendor):
    post_save.connect(
        _catalogue_changed, sender=_model, dispatch_uid=f"catalogue_stamp_save_{_model.__name__}"
    )
    post_delete.connect(
        _catalogue_changed, sender=_model, dispatch_uid=f"catalogue_stamp_delete_{_model.__name__}"
    )
