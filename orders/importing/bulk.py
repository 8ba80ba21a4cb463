"""Loading many order lines at once: their secondary indexes and foreign keys rebuilt, not maintained.

Maintaining four secondary indexes and checking two foreign keys row by row is most of the cost of a large
import (measured on Online Retail's 386k lines: 5 s of index inserts and 7 s of deferred foreign-key
checks, against 0.8 s for the rows themselves). Rebuilding the indexes afterwards sorts each once, and
re-adding a foreign key checks every row with one join. It pays only when the import writes at least as
many lines as the table holds, and only for large loads (BULK_MIN_LINES), so the caller asks
`orderlines_bulk_pays` first.

All of it is DDL inside the import's transaction: a failure rolls the indexes and constraints back with the
data. The price is the locks: dropping the foreign keys takes ACCESS EXCLUSIVE locks on order lines,
orders and products until the import commits, so the portals wait for it (seconds) instead of reading
around it, and a portal transaction that already holds a lock the import needs while waiting for one of
those tables is a deadlock that PostgreSQL breaks by failing one of the two (a failed import changes
nothing and can be run again). Hence the minimum: a small import never takes those locks. PostgreSQL only.
"""

from dataclasses import dataclass

from django.db import connection

from orders.models import OrderLine

TABLE = OrderLine._meta.db_table
# Below this many lines, maintaining the indexes costs well under a second: not worth the exclusive locks.
BULK_MIN_LINES = 50_000


@dataclass(frozen=True)
class SecondaryStructures:
    """How to recreate what was dropped: index definitions, then `ADD CONSTRAINT` clauses."""

    indexes: list[str]
    constraints: list[str]


def orderlines_bulk_pays(cursor, *, lines: int) -> bool:
    """Whether `lines` new lines are a large load that at least doubles the table (by the planner's count,
    which the import keeps with ANALYZE)."""
    cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [TABLE])
    existing = cursor.fetchone()[0]
    # -1 means never analysed, which only happens to a table that has not been loaded yet.
    return lines >= BULK_MIN_LINES and lines >= max(existing, 0)


def orderlines_secondary_drop(cursor) -> SecondaryStructures:
    """Drop the unique and foreign-key constraints and the other indexes of the order lines, not the key.

    The primary key stays: identities are appended in order, so its upkeep is cheap, and other tables
    may refer to it.
    """
    # Deferred checks already queued would make PostgreSQL refuse to alter the tables they concern.
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    cursor.execute(
        """
        SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
        WHERE conrelid = %s::regclass AND contype IN ('u', 'f')
        ORDER BY contype DESC, conname
        """,
        [TABLE],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        """
        SELECT index.indexrelid::regclass::text, pg_get_indexdef(index.indexrelid)
        FROM pg_index AS index
        WHERE index.indrelid = %s::regclass AND NOT EXISTS (
            SELECT 1 FROM pg_constraint WHERE conindid = index.indexrelid AND contype IN ('p', 'u', 'x')
        )
        ORDER BY 1
        """,
        [TABLE],
    )
    indexes = cursor.fetchall()
    quote = connection.ops.quote_name
    if constraints:
        drops = ", ".join(f"DROP CONSTRAINT {quote(name)}" for name, _ in constraints)
        cursor.execute(f"ALTER TABLE {quote(TABLE)} {drops}")
    if indexes:
        # The names come back from regclass already quoted where they need it (and schema-qualified
        # only when the schema is not on the search path).
        cursor.execute(f"DROP INDEX {', '.join(name for name, _ in indexes)}")
    return SecondaryStructures(
        indexes=[definition for _, definition in indexes],
        constraints=[f"ADD CONSTRAINT {quote(name)} {definition}" for name, definition in constraints],
    )


def orderlines_secondary_restore(cursor, structures: SecondaryStructures) -> None:
    """Recreate what `orderlines_secondary_drop` dropped; a foreign key is checked as it is added."""
    for definition in structures.indexes:
        cursor.execute(definition)
    if structures.constraints:
        # Unique constraints come first in the list: their indexes are built before the foreign keys.
        cursor.execute(f"ALTER TABLE {connection.ops.quote_name(TABLE)} {', '.join(structures.constraints)}")
    cursor.execute("SET CONSTRAINTS ALL DEFERRED")
