"""Rows that every API request reads, kept in Redis and replaced by a tombstone whenever they change.

A reader takes the entry when there is one; otherwise it reads PostgreSQL and stores what it read only where
there is no entry (SET NX). A change puts a tombstone in the entry's place at once and again after commit
(`entries_changed`); while a tombstone is there readers go to PostgreSQL and store nothing. So a value read
before a change committed can never be stored after it, and the next read after a change sees it.

A reader may also hold what it found for a second in its own process (`local_seconds`), which saves the
round trip to Redis on most requests: another process then sees a change up to that second late, the process
that made it at once.

What the cache cannot see: a write that bypasses the callers' signals (`QuerySet.update()`) and a change made
while Redis failed to take the tombstone. An entry's lifetime bounds both. Redis down or hung costs the
cache, never the request: the reader reads PostgreSQL.
"""

import logging
import pickle
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Every key starts with it, so that tests can drop every entry at once (conftest.py).
KEY_PREFIX = "readthrough:"
TOMBSTONE = "changed"
# Longer than a request takes from its read of PostgreSQL to its SET NX: a reader that read before the change
# and stores after the tombstone expired would store the old value.
TOMBSTONE_SECONDS = 15
# The process's own copies: (until, pickled value) by key. Pickled, so that each reader gets its own objects
# (a view may change the user it was given); dropped all at once past this many (one per active user).
LOCAL_ENTRIES = 10_000
_local: dict[str, tuple[float, bytes]] = {}
_MISSING = object()


def _hold(key: str, value: object, local_seconds: float) -> None:
    if len(_local) >= LOCAL_ENTRIES:
        _local.clear()
    _local[key] = (time.monotonic() + local_seconds, pickle.dumps(value, pickle.HIGHEST_PROTOCOL))


def entry_read(*, key: str, load: Callable[[], T], seconds: int, local_seconds: float = 0.0) -> T:
    """The entry under `key`, or `load()` (stored for `seconds` unless a tombstone or another entry is there);
    held in this process for `local_seconds` when it came from, or went into, Redis.

    `load` must not return a string equal to TOMBSTONE; any other picklable value, None included, is kept.
    """
    key = KEY_PREFIX + key
    held = _local.get(key)
    if held is not None and held[0] > time.monotonic():
        return pickle.loads(held[1])
    try:
        found = cache.get(key, _MISSING)
    except Exception as error:  # any client error of a down or hung Redis
        logger.warning("read-through cache unavailable: %s", error)
        return load()
    if found is not _MISSING and found != TOMBSTONE:
        if local_seconds:
            _hold(key, found, local_seconds)
        return found
    value = load()
    if found is _MISSING:
        try:
            stored = cache.add(key, value, seconds)
        except Exception as error:  # any client error of a down or hung Redis
            logger.warning("read-through cache unavailable: %s", error)
        else:
            if stored and local_seconds:
                _hold(key, value, local_seconds)
    return value


def _forget(keys: Sequence[str]) -> None:
    for key in keys:
        _local.pop(KEY_PREFIX + key, None)
    try:
        cache.set_many({KEY_PREFIX + key: TOMBSTONE for key in keys}, TOMBSTONE_SECONDS)
    except Exception as error:  # any client error of a down or hung Redis
        logger.warning("read-through tombstones not written, the entries expire by themselves: %s", error)


def entries_changed(*, keys: Sequence[str]) -> None:
    """Call where the rows behind `keys` change: tombstones now, for readers during the transaction, and after
    commit, for readers that read the old rows while it ran."""
    if not keys:
        return
    keys = list(keys)
    _forget(keys)
    transaction.on_commit(lambda: _forget(keys))


def local_entries_clear() -> None:
    """Forget this process's copies (a test starting afresh)."""
    _local.clear()
