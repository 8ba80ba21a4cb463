"""Import the full UCI Online Retail file into a PostgreSQL database of its own and compare with raw COPY.

Run from the project root: `python bench/import_online_retail.py [--database-url URL] [--file PATH]`.
It uses its own database, `smartbasket_bench_import` by default (created if missing, flushed before each
run), never the development one. The reference, measured in the same run on the same database: the gzipped
file decompressed by this process and sent with psycopg's COPY into a one-column text table, no parsing,
no constraints (what `psql \\copy` of the file does). It is measured `--reference-runs` times before the
import; the ratio divides its median by the import's time (1.0 would be as fast as raw COPY).

Timed: `transactions_import` as the command calls it, commit included. The vendor rollup refresh that the
import queues is not: it is sent to `--redis-url` (a database of this benchmark's own, emptied afterwards)
for a worker, as in production. A second import of the same file shows the idempotent re-import.
"""

import argparse
import gzip
import statistics
import sys
import time
from pathlib import Path

import psycopg
from benchdb import ensure_database, setup_django

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/smartbasket_bench_import"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
READ_BYTES = 1 << 20


def raw_copy_seconds(database_url: str, path: Path) -> float:
    """Seconds to decompress the file and COPY its lines as they are into a temporary text table."""
    with psycopg.connect(database_url) as connection:
        connection.execute("CREATE TEMPORARY TABLE raw_lines (line text)")
        started = time.perf_counter()
        with gzip.open(path, "rb") as source, connection.cursor().copy("COPY raw_lines FROM STDIN") as copy:
            while chunk := source.read(READ_BYTES):
                copy.write(chunk)
        connection.commit()
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--file", help="defaults to online_retail.csv.gz in SMARTBASKET_DATASETS_DIR")
    parser.add_argument("--reference-runs", type=int, default=3)
    args = parser.parse_args()
    if args.database_url.rsplit("/", 1)[1] == "smartbasket":
        sys.exit("refusing to run on the development database")
    if args.reference_runs < 1:
        sys.exit("--reference-runs must be at least 1")

    ensure_database(args.database_url, fresh=False)
    setup_django(args.database_url, REDIS_URL=args.redis_url)
    import redis
    from django.conf import settings
    from django.core.management import call_command

    from orders.imports import transactions_import

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    path = Path(args.file) if args.file else settings.DATASETS_DIR / "online_retail.csv.gz"

    references = [raw_copy_seconds(args.database_url, path) for _ in range(args.reference_runs)]
    reference = statistics.median(references)
    started = time.perf_counter()
    report = transactions_import(path=path, fmt="online-retail")
    first = time.perf_counter() - started
    started = time.perf_counter()
    again = transactions_import(path=path, fmt="online-retail")
    second = time.perf_counter() - started
    redis.Redis.from_url(args.redis_url).flushdb()

    print(f"\nOnline Retail import into {args.database_url.rsplit('/', 1)[1]} ({path.name})")
    print(f"{'rows read':<40}{report.rows_read:>12,}")
    print(f"{'imported lines (rows staged)':<40}{report.rows_staged:>12,}")
    print(f"{'order lines created':<40}{report.lines_created:>12,}")
    print(f"{'orders / retailers / products created':<40}", end="")
    print(f"{report.orders_created:>8,} / {report.retailers_created:,} / {report.products_created:,}")
    print(f"{'skipped / rejected':<40}{sum(report.skipped.values()):>8,} / {report.rejected_total:,}")
    print(f"{'re-import: orders / lines created':<40}{again.orders_created:>8,} / {again.lines_created:,}")
    print()
    print(f"{'measure':<46}{'seconds':>9}{'rows/s':>12}{'ratio to raw COPY':>19}")
    print("-" * 86)
    rows = [
        (f"raw COPY of the gzipped file (median of {len(references)})", reference),
        ("import (transactions_import, commit included)", first),
        ("re-import of the same file (nothing new)", second),
    ]
    for name, seconds in rows:
        print(f"{name:<46}{seconds:>9.2f}{report.rows_read / seconds:>12,.0f}{reference / seconds:>19.2f}")
    print(f"\nthe import's phases (bulk index rebuild: {'yes' if report.bulk_load else 'no'})")
    phases = [*report.phases.items(), ("import run record, commit", first - sum(report.phases.values()))]
    for name, seconds in phases:
        print(f"  {name:<44}{seconds:>9.2f}{'':>12}{reference / seconds:>19.2f}")
    print(f"raw COPY runs: {', '.join(f'{seconds:.2f}' for seconds in references)} s")


if __name__ == "__main__":
    main()
