"""Import of purchase histories (see `orders.sources`) into retailers, products, orders and order lines.

How: the reader's rows are streamed into a temporary staging table (PostgreSQL COPY; batched executemany on
SQLite), then a handful of set-based `INSERT ... SELECT ... ON CONFLICT DO NOTHING` statements create what is
missing. Python memory stays constant whatever the file size, and the same SQL runs on both databases.

Rules:
- a customer becomes a Retailer keyed `<source>:<customer>` (ids of different datasets overlap; the source is
  the format unless `source` names another, e.g. to import a generic CSV export of Online Retail data into
  the same retailers and orders as `online-retail`), named
  "Customer <id>", with the country of its first line as country and region, created at its first order;
- a product code becomes a Product of one vendor keyed (vendor, sku): its name is the first non-empty
  description seen (by date, then line), its price the last price seen (0 when the source has none), its
  category the first `Department / Aisle` seen, its created_at the date of its first sale;
- an order becomes a placed Order keyed (source, order), at its earliest line's time, for the customer of that
  line; a retailer's new orders are numbered after its existing ones, in placed order;
- rows with the same (order, product) become one OrderLine: quantities summed, first row's price.
Everything runs in one transaction, so a failure leaves the database as it was; a second import of the same
data creates nothing because every row is keyed on a natural key.

Errors: the readers check every value against the columns' limits (`field_limits`) and reject, with its line
number, a row the database would refuse, so the bulk load never fails on one bad row. Quantities that only
overflow once an order's duplicate lines are summed are found in the staging table and rejected the same
way. A failure of the whole import (unreadable file, bad encoding, database error, interruption) rolls back,
then is recorded as a failed `ImportRun` with its reason and raised as `ImportFailed`.
"""

import hashlib
import logging
import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import TextIO

from django.db import Error as DatabaseFailure
from django.db import connection, transaction
from django.db.models import CharField, DecimalField, Model
from django.utils.text import slugify
from tqdm import tqdm

from accounts.models import Retailer
from catalog.models import Category, Product
from orders.models import ImportRun, Order, OrderLine
from orders.services import orders_number_unnumbered
from orders.sources import (
    ColumnMapping,
    FieldLimits,
    RejectedRow,
    SkippedRow,
    SourceError,
    TransactionRow,
    read_transactions,
)
from orders.sources.rows import escape_nul
from recommendations.interface import catalogue_stamp_bump
from vendors.models import Vendor
from vendors.services import vendors_refresh_all

logger = logging.getLogger(__name__)

DEFAULT_VENDOR_NAMES = {
    "online-retail": "Online Retail (UK)",
    "instacart": "Instacart",
    "csv": "Imported CSV",
}
RETAILER_NAME_PREFIX = "Customer "
SOURCE_LENGTH = Order._meta.get_field("source").max_length
# The source prefixes retailer keys (`<source>:<customer>`): a colon in it would make keys ambiguous.
SOURCE_NAME = re.compile(rf"[a-z0-9-]{{1,{SOURCE_LENGTH}}}")
REJECTED_KEPT = 200
SQLITE_BATCH = 5_000
PROGRESS_EVERY = 1_000
STAGING = "import_staging"
STAGING_COLUMNS = (
    "line_no",
    "customer",
    "order_ref",
    "placed_at",
    "product",
    "description",
    "quantity",
    "unit_price",
    "category_top",
    "category_sub",
    "country",
)


@dataclass
class ImportReport:
    source: str
    path: str
    vendor: str
    rows_read: int = 0
    rows_staged: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    rejected_total: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)
    retailers_created: int = 0
    categories_created: int = 0
    products_created: int = 0
    orders_created: int = 0
    lines_created: int = 0
    seconds: float = 0.0
    import_run_id: int | None = None
    quantity_total: int = 0

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.seconds if self.seconds else 0.0

    def counts(self) -> dict[str, object]:
        return {
            "rows_read": self.rows_read,
            "rows_staged": self.rows_staged,
            "skipped": dict(self.skipped),
            "rejected_total": self.rejected_total,
            "retailers_created": self.retailers_created,
            "categories_created": self.categories_created,
            "products_created": self.products_created,
            "orders_created": self.orders_created,
            "lines_created": self.lines_created,
        }


class ImportFailed(Exception):
    """The import changed nothing; `run` is the failed ImportRun recording why (None if it could not be)."""

    def __init__(self, reason: str, run: ImportRun | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.run = run


def transactions_import(
    *,
    path: str | Path,
    fmt: str,
    mapping: ColumnMapping | None = None,
    vendor_name: str | None = None,
    rejects_file: TextIO | None = None,
    progress: bool = False,
    encoding: str = "utf-8",
    source: str | None = None,
) -> ImportReport:
    """Import a file (or Instacart folder) in one transaction; `ImportFailed` when it was rolled back.

    Not atomic itself, unlike other services: the failed run must be written after the rollback, or it would
    be rolled back with the import. (Called inside an outer transaction, the run shares that one's fate.)
    """
    started = time.perf_counter()
    path = Path(path)
    report = ImportReport(
        source=source or fmt, path=str(path), vendor=vendor_name or DEFAULT_VENDOR_NAMES.get(fmt, "")
    )
    try:
        _transactions_import_atomic(
            report,
            path=path,
            fmt=fmt,
            mapping=mapping,
            rejects_file=rejects_file,
            progress=progress,
            encoding=encoding,
            started=started,
        )
    except Exception as exc:
        report.seconds = time.perf_counter() - started
        reason = _failure_reason(exc)
        raise ImportFailed(reason, _import_run_record_failure(report=report, reason=reason)) from exc
    except BaseException:
        # An interruption (Ctrl-C) is recorded too, then left to stop the program.
        report.seconds = time.perf_counter() - started
        _import_run_record_failure(report=report, reason="interrupted")
        raise
    return report


@transaction.atomic
def _transactions_import_atomic(
    report: ImportReport,
    *,
    path: Path,
    fmt: str,
    mapping: ColumnMapping | None,
    rejects_file: TextIO | None,
    progress: bool,
    encoding: str,
    started: float,
) -> None:
    if not SOURCE_NAME.fullmatch(report.source):
        raise SourceError(
            f"source {report.source!r} is not 1 to {SOURCE_LENGTH} lower-case letters, digits or hyphens"
        )
    limits = field_limits(source=report.source)
    rows = read_transactions(path, fmt, mapping=mapping, encoding=encoding, limits=limits)
    vendor = _vendor_for(report.vendor)
    progress_bar = tqdm(desc=f"reading {path.name}", unit=" rows", unit_scale=True, disable=not progress)
    with connection.cursor() as cursor, progress_bar:
        cursor.execute(f"DROP TABLE IF EXISTS {STAGING}")
        cursor.execute(_staging_ddl())
        staged = _staging_values(_tally(rows, report, rejects_file, progress_bar))
        if connection.vendor == "postgresql":
            _copy_into_staging(cursor, staged)
            progress_bar.update(report.rows_read - progress_bar.n)
        else:
            _insert_into_staging(cursor, staged)
            progress_bar.update(report.rows_read - progress_bar.n)
        if report.quantity_total > limits.quantity:
            _reject_overflowing_sums(cursor, report, rejects_file, limits.quantity)
        if connection.vendor == "postgresql":
            cursor.execute(f"ANALYZE {STAGING}")
            # The planner guesses that `position = 1` keeps almost no rows and picks nested loops over
            # the staging table, which turns quadratic on real files; hash joins are right for bulk work.
            cursor.execute("SET LOCAL enable_nestloop = off")
        _create_from_staging(cursor, report, source=report.source, vendor_id=vendor.pk)
        if connection.vendor == "postgresql":
            cursor.execute("RESET enable_nestloop")
            # Django's foreign keys are checked at commit; check them now so the time is counted and a
            # failure is reported here.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
            # A bulk load leaves the planner's statistics far off; the portals' first queries would pick
            # nested loops over hundreds of thousands of lines.
            for model in (Retailer, Product, Order, OrderLine):
                cursor.execute(f"ANALYZE {model._meta.db_table}")
        cursor.execute(f"DROP TABLE {STAGING}")
    report.seconds = time.perf_counter() - started
    run = ImportRun.objects.create(
        source=report.source,
        path=str(path),
        sha256=_sha256(path),
        vendor=vendor,
        status=ImportRun.Status.SUCCEEDED,
        counts=report.counts(),
        rejected_rows=[asdict(row) for row in report.rejected],
        duration_seconds=report.seconds,
    )
    report.import_run_id = run.pk
    # Queued in this transaction, so the vendor pages' rollups are rebuilt once the import has committed.
    vendors_refresh_all()
    # Imported products may have changed: the API's cached recommendation documents quote product fields.
    transaction.on_commit(catalogue_stamp_bump)


def field_limits(*, source: str) -> FieldLimits:
    """What the columns the importer fills accept, on the database in use.

    A customer is stored as Retailer.external_ref `<source>:<customer>` and name `Customer <customer>`, so
    its limit is the tighter of the two once the prefixes are counted.
    """
    quantity_field = OrderLine._meta.get_field("quantity")
    price_fields = [model._meta.get_field("unit_price") for model in (OrderLine, Product)]
    assert all(isinstance(field, DecimalField) for field in price_fields)
    return FieldLimits(
        customer=min(
            _length(Retailer, "external_ref") - len(f"{source}:"),
            _length(Retailer, "name") - len(RETAILER_NAME_PREFIX),
        ),
        order=_length(Order, "external_ref"),
        product=_length(Product, "sku"),
        category=_length(Category, "name"),
        country=min(_length(Retailer, "country"), _length(Retailer, "region")),
        quantity=connection.ops.integer_field_range(quantity_field.get_internal_type())[1],
        price_digits=min(field.max_digits for field in price_fields),
        price_places=min(field.decimal_places for field in price_fields),
    )


def _length(model: type[Model], name: str) -> int:
    field = model._meta.get_field(name)
    assert isinstance(field, CharField) and field.max_length is not None
    return field.max_length


def _failure_reason(exc: Exception) -> str:
    if isinstance(exc, SourceError):
        reason = str(exc)
    elif isinstance(exc, DatabaseFailure):
        reason = f"the database refused the data: {str(exc).strip()}"
    elif isinstance(exc, OSError):
        reason = f"cannot read or write a file: {exc}"
    else:
        reason = f"unexpected error {type(exc).__name__}: {exc}"
    return escape_nul(reason)


def _import_run_record_failure(*, report: ImportReport, reason: str) -> ImportRun | None:
    """Record a failed import; a database too broken to take the record is logged, not raised instead."""
    path = Path(report.path)
    try:
        sha256 = _sha256(path)
    except OSError:
        sha256 = ""
    try:
        return ImportRun.objects.create(
            source=report.source[:SOURCE_LENGTH],
            path=report.path[:500],
            sha256=sha256,
            vendor=Vendor.objects.filter(name=report.vendor).first(),
            status=ImportRun.Status.FAILED,
            error=reason,
            counts=report.counts(),
            rejected_rows=[asdict(row) for row in report.rejected],
            duration_seconds=report.seconds,
        )
    except DatabaseFailure as exc:
        # A warning, not a traceback: the cause of the failure is what the user must see.
        logger.warning("could not record the failed import of %s: %s", report.path, exc)
        return None


def _vendor_for(name: str) -> Vendor:
    vendor = Vendor.objects.filter(name=name).first()
    if vendor is None:
        vendor = Vendor.objects.create(name=name, slug=_free_slug(name))
    return vendor


def _free_slug(name: str) -> str:
    base = slugify(name)[:190] or "vendor"
    slug, suffix = base, 2
    while Vendor.objects.filter(slug=slug).exists():
        slug, suffix = f"{base}-{suffix}", suffix + 1
    return slug


def _tally(
    rows: Iterable[TransactionRow | RejectedRow | SkippedRow],
    report: ImportReport,
    rejects_file: TextIO | None,
    progress_bar: tqdm,
) -> Iterator[TransactionRow]:
    """Count and report skipped and rejected rows while passing the transaction rows through."""
    for row in rows:
        report.rows_read += 1
        if report.rows_read % PROGRESS_EVERY == 0:
            progress_bar.update(PROGRESS_EVERY)
        if isinstance(row, TransactionRow):
            report.rows_staged += 1
            report.quantity_total += row.quantity
            yield row
        elif isinstance(row, SkippedRow):
            report.skipped[row.reason] += 1
        else:
            _report_rejected(row, report, rejects_file)


def _report_rejected(row: RejectedRow, report: ImportReport, rejects_file: TextIO | None) -> None:
    # The readers escape NUL in what they quote from the line; a header's name could still carry one.
    row = RejectedRow(row.line_no, escape_nul(row.reason), escape_nul(row.raw))
    report.rejected_total += 1
    if len(report.rejected) < REJECTED_KEPT:
        report.rejected.append(row)
    if rejects_file is not None:
        rejects_file.write(f"{row.line_no}\t{row.reason}\t{row.raw}\n")


def _reject_overflowing_sums(cursor, report: ImportReport, rejects_file: TextIO | None, largest: int) -> None:
    """Reject the lines of an (order, product) whose summed quantity no order line could store.

    Each quantity was checked by the reader; only their sum can overflow. Called only when the quantities of
    the whole file add up past the limit, which real files never do, so it costs nothing in practice.
    """
    # SQLite's SUM raises on 64-bit overflow; its TOTAL adds in floating point and cannot.
    total = "SUM(quantity)" if connection.vendor == "postgresql" else "TOTAL(quantity)"
    cursor.execute(
        f"""
        SELECT line_no, customer, order_ref, product, quantity, total FROM (
            SELECT line_no, customer, order_ref, product, quantity,
                   {total} OVER (PARTITION BY order_ref, product) AS total
            FROM {STAGING}
        ) AS sums
        WHERE total > %s
        ORDER BY line_no
        """,
        [largest],
    )
    overflowing = cursor.fetchall()
    for line_no, customer, order, product, quantity, total_quantity in overflowing:
        reason = (
            f"the quantities of product {product!r} in order {order!r} add up to {int(total_quantity)}, "
            f"above the largest quantity stored ({largest})"
        )
        _report_rejected(
            RejectedRow(line_no, reason, f"{customer},{order},{product},{quantity}"), report, rejects_file
        )
    cursor.execute(
        f"""
        DELETE FROM {STAGING} WHERE (order_ref, product) IN (
            SELECT order_ref, product FROM {STAGING} GROUP BY order_ref, product HAVING {total} > %s
        )
        """,
        [largest],
    )
    report.rows_staged -= len(overflowing)


def _staging_values(rows: Iterable[TransactionRow]) -> Iterator[tuple[object, ...]]:
    for row in rows:
        top, _, sub = row.category.partition(" / ")
        yield (
            row.line_no,
            row.customer,
            row.order,
            row.placed_at,
            row.product,
            row.description,
            row.quantity,
            row.unit_price,
            top.strip(),
            sub.strip(),
            row.country,
        )


def _staging_ddl() -> str:
    # Text columns everywhere: the readers already rejected a value too long for the real tables.
    if connection.vendor == "postgresql":
        # Byte-order collation: the window sorts and groupings need no locale rules and run much faster.
        timestamp, text = "timestamptz", 'text COLLATE "C"'
    else:
        timestamp, text = "text", "text"
    return (
        f"CREATE TEMPORARY TABLE {STAGING} (line_no bigint, customer {text}, order_ref {text}, "
        f"placed_at {timestamp}, product {text}, description text, quantity bigint, unit_price numeric, "
        f"category_top {text}, category_sub {text}, country text)"
    )


def _copy_into_staging(cursor, values: Iterable[tuple[object, ...]]) -> None:
    # The raw psycopg cursor raises psycopg's errors; wrapped, they are Django's like every other query's.
    with (
        connection.wrap_database_errors,
        cursor.cursor.copy(f"COPY {STAGING} ({', '.join(STAGING_COLUMNS)}) FROM STDIN") as copy,
    ):
        for value in values:
            copy.write_row(value)


def _insert_into_staging(cursor, values: Iterable[tuple[object, ...]]) -> None:
    """SQLite path: batched executemany, with values adapted the way Django stores them."""
    placeholders = ", ".join(["%s"] * len(STAGING_COLUMNS))
    sql = f"INSERT INTO {STAGING} ({', '.join(STAGING_COLUMNS)}) VALUES ({placeholders})"
    adapted = (_adapt_for_sqlite(value) for value in values)
    while batch := list(islice(adapted, SQLITE_BATCH)):
        cursor.executemany(sql, batch)


def _adapt_for_sqlite(value: tuple[object, ...]) -> tuple[object, ...]:
    placed_at, unit_price = value[3], value[7]
    assert isinstance(placed_at, datetime)
    return (
        *value[:3],
        connection.ops.adapt_datetimefield_value(placed_at),
        *value[4:7],
        None if unit_price is None else str(unit_price),
        *value[8:],
    )


def _create_from_staging(cursor, report: ImportReport, *, source: str, vendor_id: int) -> None:
    # The `external_ref <> ''` conditions repeat the partial unique indexes' predicates so that the
    # databases may use those indexes for the lookups.
    customer_prefix = f"{source}:"
    cursor.execute(
        f"""
        INSERT INTO accounts_retailer (name, external_ref, city, region, country, segment, size, created_at)
        SELECT CAST(%s AS text) || customer, CAST(%s AS text) || customer, '', country, country, 'other',
               'small', placed_at
        FROM (
            SELECT customer, country, placed_at,
                   ROW_NUMBER() OVER (PARTITION BY customer ORDER BY placed_at, line_no) AS position
            FROM {STAGING}
        ) AS firsts
        WHERE position = 1
        ON CONFLICT DO NOTHING
        """,
        [RETAILER_NAME_PREFIX, customer_prefix],
    )
    report.retailers_created = cursor.rowcount
    cursor.execute(
        f"""
        INSERT INTO catalog_category (name)
        SELECT DISTINCT category_top FROM {STAGING} WHERE category_top <> ''
        ON CONFLICT DO NOTHING
        """
    )
    report.categories_created = cursor.rowcount
    cursor.execute(
        f"""
        INSERT INTO catalog_category (name, parent_id)
        SELECT DISTINCT staged.category_sub, top.id
        FROM {STAGING} AS staged
        JOIN catalog_category AS top ON top.parent_id IS NULL AND top.name = staged.category_top
        WHERE staged.category_sub <> ''
        ON CONFLICT DO NOTHING
        """
    )
    report.categories_created += cursor.rowcount
    cursor.execute(
        f"""
        INSERT INTO catalog_product
            (vendor_id, sku, name, description, category_id, unit_price, pack_size, is_active, created_at)
        SELECT %s, firsts.product, SUBSTR(COALESCE(names.description, firsts.product), 1, 255),
               COALESCE(names.description, ''), COALESCE(sub.id, top.id), COALESCE(prices.unit_price, 0),
               1, TRUE, firsts.first_seen
        FROM (SELECT product, MIN(placed_at) AS first_seen FROM {STAGING} GROUP BY product) AS firsts
        LEFT JOIN (
            SELECT product, description,
                   ROW_NUMBER() OVER (PARTITION BY product ORDER BY placed_at, line_no) AS position
            FROM {STAGING} WHERE description <> ''
        ) AS names ON names.product = firsts.product AND names.position = 1
        LEFT JOIN (
            SELECT product, unit_price,
                   ROW_NUMBER() OVER (PARTITION BY product ORDER BY placed_at DESC, line_no DESC) AS position
            FROM {STAGING} WHERE unit_price IS NOT NULL
        ) AS prices ON prices.product = firsts.product AND prices.position = 1
        LEFT JOIN (
            SELECT product, category_top, category_sub,
                   ROW_NUMBER() OVER (PARTITION BY product ORDER BY placed_at, line_no) AS position
            FROM {STAGING} WHERE category_top <> ''
        ) AS categories ON categories.product = firsts.product AND categories.position = 1
        LEFT JOIN catalog_category AS top ON top.parent_id IS NULL AND top.name = categories.category_top
        LEFT JOIN catalog_category AS sub ON sub.parent_id = top.id AND sub.name = categories.category_sub
        WHERE TRUE
        ON CONFLICT DO NOTHING
        """,
        [vendor_id],
    )
    report.products_created = cursor.rowcount
    _refresh_statistics(cursor, "accounts_retailer", "catalog_product")
    cursor.execute(
        f"""
        INSERT INTO orders_order
            (retailer_id, status, placed_at, created_at, updated_at, source, external_ref)
        SELECT retailer.id, 'placed', firsts.placed_at, firsts.placed_at, firsts.placed_at,
               %s, firsts.order_ref
        FROM (
            SELECT order_ref, customer, placed_at,
                   ROW_NUMBER() OVER (PARTITION BY order_ref ORDER BY placed_at, line_no) AS position
            FROM {STAGING}
        ) AS firsts
        JOIN accounts_retailer AS retailer
          ON retailer.external_ref <> '' AND retailer.external_ref = CAST(%s AS text) || firsts.customer
        WHERE firsts.position = 1
        ON CONFLICT DO NOTHING
        """,
        [source, customer_prefix],
    )
    report.orders_created = cursor.rowcount
    # Each retailer's new orders take its next numbers, oldest first.
    orders_number_unnumbered()
    _refresh_statistics(cursor, "orders_order")
    cursor.execute(
        f"""
        INSERT INTO orders_orderline (order_id, product_id, quantity, unit_price)
        SELECT placed.id, product.id, lines.quantity, COALESCE(lines.unit_price, product.unit_price)
        FROM (
            SELECT order_ref, product, unit_price,
                   SUM(quantity) OVER (PARTITION BY order_ref, product) AS quantity,
                   ROW_NUMBER() OVER (PARTITION BY order_ref, product ORDER BY line_no) AS position
            FROM {STAGING}
        ) AS lines
        JOIN orders_order AS placed
          ON placed.external_ref <> '' AND placed.source = %s AND placed.external_ref = lines.order_ref
        JOIN catalog_product AS product ON product.vendor_id = %s AND product.sku = lines.product
        WHERE lines.position = 1
        ON CONFLICT DO NOTHING
        """,
        [source, vendor_id],
    )
    report.lines_created = cursor.rowcount


def _refresh_statistics(cursor, *tables: str) -> None:
    """SQLite plans joins from stale statistics (a 3,000-product table looks tiny) and goes quadratic."""
    if connection.vendor == "sqlite":
        for table in tables:
            cursor.execute(f"ANALYZE {table}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    for file in files:
        with file.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()
