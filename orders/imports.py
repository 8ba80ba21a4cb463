"""Import of purchase histories (see `orders.sources`) into retailers, products, orders and order lines.

How: the reader's rows are streamed into a temporary staging table (PostgreSQL COPY; batched executemany on
SQLite), then a handful of set-based `INSERT ... SELECT ... ON CONFLICT DO NOTHING` statements create what is
missing. Python memory stays constant whatever the file size, and the same SQL runs on both databases.

Rules:
- a customer becomes a Retailer keyed `<source>:<customer>` (ids of different datasets overlap), named
  "Customer <id>", with the country of its first line as country and region, created at its first order;
- a product code becomes a Product of one vendor keyed (vendor, sku): its name is the first non-empty
  description seen (by date, then line), its price the last price seen (0 when the source has none), its
  category the first `Department / Aisle` seen, its created_at the date of its first sale;
- an order becomes a placed Order keyed (source, order), at its earliest line's time, for the customer of that
  line;
- rows with the same (order, product) become one OrderLine: quantities summed, first row's price.
Everything runs in one transaction, so a failure leaves the database as it was; a second import of the same
data creates nothing because every row is keyed on a natural key.
"""

import hashlib
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import TextIO

from django.db import connection, transaction
from django.utils.text import slugify
from tqdm import tqdm

from accounts.models import Retailer
from catalog.models import Product
from orders.models import ImportRun, Order, OrderLine
from orders.sources import ColumnMapping, RejectedRow, SkippedRow, TransactionRow, read_transactions
from vendors.models import Vendor

DEFAULT_VENDOR_NAMES = {
    "online-retail": "Online Retail (UK)",
    "instacart": "Instacart",
    "csv": "Imported CSV",
}
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


@transaction.atomic
def transactions_import(
    *,
    path: str | Path,
    fmt: str,
    mapping: ColumnMapping | None = None,
    vendor_name: str | None = None,
    rejects_file: TextIO | None = None,
    progress: bool = False,
) -> ImportReport:
    """Import a file (or Instacart folder); `SourceError` for unreadable input, DB errors roll back."""
    started = time.perf_counter()
    path = Path(path)
    rows = read_transactions(path, fmt, mapping=mapping)
    vendor = _vendor_for(vendor_name or DEFAULT_VENDOR_NAMES[fmt])
    report = ImportReport(source=fmt, path=str(path), vendor=vendor.name)
    progress_bar = tqdm(desc=f"reading {path.name}", unit=" rows", unit_scale=True, disable=not progress)
    with connection.cursor() as cursor, progress_bar:
        cursor.execute(f"DROP TABLE IF EXISTS {STAGING}")
        cursor.execute(_staging_ddl())
        staged = _staging_values(_tally(rows, report, rejects_file, progress_bar))
        if connection.vendor == "postgresql":
            _copy_into_staging(cursor, staged)
            progress_bar.update(report.rows_read - progress_bar.n)
            cursor.execute(f"ANALYZE {STAGING}")
        else:
            _insert_into_staging(cursor, staged)
            progress_bar.update(report.rows_read - progress_bar.n)
        if connection.vendor == "postgresql":
            # The planner guesses that `position = 1` keeps almost no rows and picks nested loops over
            # the staging table, which turns quadratic on real files; hash joins are right for bulk work.
            cursor.execute("SET LOCAL enable_nestloop = off")
        _create_from_staging(cursor, report, source=fmt, vendor_id=vendor.pk)
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
        source=fmt,
        path=str(path),
        sha256=_sha256(path),
        vendor=vendor,
        counts=report.counts(),
        rejected_rows=[asdict(row) for row in report.rejected],
        duration_seconds=report.seconds,
    )
    report.import_run_id = run.pk
    return report


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
            yield row
        elif isinstance(row, SkippedRow):
            report.skipped[row.reason] += 1
        else:
            report.rejected_total += 1
            if len(report.rejected) < REJECTED_KEPT:
                report.rejected.append(row)
            if rejects_file is not None:
                rejects_file.write(f"{row.line_no}\t{row.reason}\t{row.raw}\n")


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
            top.strip()[:120],
            sub.strip()[:120],
            row.country,
        )


def _staging_ddl() -> str:
    # Text columns everywhere: a value too long for the real tables fails there, with a clear message.
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
    with cursor.cursor.copy(f"COPY {STAGING} ({', '.join(STAGING_COLUMNS)}) FROM STDIN") as copy:
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
        SELECT 'Customer ' || customer, CAST(%s AS text) || customer, '', country, country, 'other', 'small',
               placed_at
        FROM (
            SELECT customer, country, placed_at,
                   ROW_NUMBER() OVER (PARTITION BY customer ORDER BY placed_at, line_no) AS position
            FROM {STAGING}
        ) AS firsts
        WHERE position = 1
        ON CONFLICT DO NOTHING
        """,
        [customer_prefix],
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
