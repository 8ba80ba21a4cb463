"""The API's user rows in Redis, so that most API requests authenticate without a PostgreSQL query.

Every API request loads its user with the retailer and the vendor (accounts/api_auth.py); the rows change
rarely and the query was a quarter of a cached recommendation read. The entry under `apiuser:<id>` follows
smartbasket/read_through.py: any save or delete of the user, its retailer or its vendor replaces it by a
tombstone, so the next request reads PostgreSQL (in another gunicorn process, within LOCAL_SECONDS). A
`QuerySet.update()` of these rows (no signal) or a change made while Redis failed reaches the API within
ROW_SECONDS.

The password hash is never cached. The entry keeps the digest the token check compares (`hash_password`),
and the user comes with `password` deferred: read from PostgreSQL if anything asks for it, and left alone by
`save()`, which writes only the fields an instance loaded.
"""

import functools
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Model
from django.db.models.signals import post_delete, post_save
from rest_framework_simplejwt.utils import get_md5_hash_password

from accounts.models import Retailer, User
from smartbasket import read_through
from vendors.models import Vendor

ROW_SECONDS = 60
# Each process holds a row it found for this long: another process sees a change up to a second late.
LOCAL_SECONDS = 1.0
_MODELS: tuple[type[Model], ...] = (User, Retailer, Vendor)


@dataclass(frozen=True)
class CachedUser:
    user: User
    # get_md5_hash_password(password), what a token's `hash_password` claim must equal.
    password_digest: str


def user_key(user_id: int) -> str:
    return f"apiuser:{user_id}"


def _select(model: type[Model], alias: str) -> str:
    return ", ".join(f'{alias}."{field.column}"' for field in model._meta.concrete_fields)


@functools.cache
def _user_query() -> str:
    """The user with the retailer and the vendor, as `select_related("retailer", "vendor")` would read them.

    Written out once because an uncached API request runs it: the ORM spends three times the round trip
    itself on compiling this join (measured with bench/api_throughput.py's profile, 2026-12-04).
    """
    return (
        f"SELECT {_select(User, 'u')}, {_select(Retailer, 'r')}, {_select(Vendor, 'v')} "
        f'FROM "{User._meta.db_table}" u '
        f'LEFT JOIN "{Retailer._meta.db_table}" r ON r."id" = u."{User._meta.get_field("retailer").column}" '
        f'LEFT JOIN "{Vendor._meta.db_table}" v ON v."id" = u."{User._meta.get_field("vendor").column}" '
        f'WHERE u."{User._meta.pk.column}" = %s'
    )


def _user_from_row(row: tuple[Any, ...]) -> CachedUser:
    """The user of a row with its organisation attached and `password` deferred, and the password's digest.

    Cached as the model instances themselves: unpickling one is a fraction of building it field by field,
    and an entry made before a new column existed reads that column from PostgreSQL (a deferred field)
    instead of misplacing values."""
    parts, start = [], 0
    for model in _MODELS:
        width = len(model._meta.concrete_fields)
        parts.append(row[start : start + width])
        start += width
    names = [field.attname for field in User._meta.concrete_fields]
    password_at = names.index("password")
    user_values = parts[0]
    user = User.from_db(
        connection.alias,
        names[:password_at] + names[password_at + 1 :],
        user_values[:password_at] + user_values[password_at + 1 :],
    )
    for name, model, values in (("retailer", Retailer, parts[1]), ("vendor", Vendor, parts[2])):
        related = model.from_db(connection.alias, None, values) if values[0] is not None else None
        User._meta.get_field(name).set_cached_value(user, related)
    return CachedUser(user=user, password_digest=get_md5_hash_password(user_values[password_at]))


def _read_row(user_id: int) -> CachedUser | None:
    with connection.cursor() as cursor:
        cursor.execute(_user_query(), [user_id])
        row = cursor.fetchone()
    return None if row is None else _user_from_row(row)


def user_with_organisation(*, user_id: int, cached: bool) -> CachedUser | None:
    """The user with the retailer and the vendor loaded (views reading them cost no query), or None.

    `cached=False` reads PostgreSQL: the token endpoints (refresh, verify) decide on the stored row itself.
    """
    if cached:
        return read_through.entry_read(
            key=user_key(user_id),
            load=lambda: _read_row(user_id),
            seconds=ROW_SECONDS,
            local_seconds=LOCAL_SECONDS,
        )
    return _read_row(user_id)


def _members(sender: type[Model], instance: Model) -> list[int]:
    if sender is User:
        return [instance.pk]
    field = "retailer" if sender is Retailer else "vendor"
    return list(User.objects.filter(**{field: instance.pk}).values_list("pk", flat=True))


def _changed(
    sender: type[Model], instance: Model, raw: bool = False, created: bool = False, **kwargs: Any
) -> None:
    # A new user has no entry (ids are never reused), nor does a new retailer or vendor have members.
    if raw or created:
        return
    read_through.entries_changed(keys=[user_key(user_id) for user_id in _members(sender, instance)])


for _model in _MODELS:
    post_save.connect(_changed, sender=_model, dispatch_uid=f"user_cache_save_{_model.__name__}")
    post_delete.connect(_changed, sender=_model, dispatch_uid=f"user_cache_delete_{_model.__name__}")
