"""Import the full UCI Online Retail file into a fresh PostgreSQL database and print a table of the numbers.

Run from the project root: `python bench/import_online_retail.py [--database-url URL] [--file PATH]`.
It creates (or flushes) its own database, `smartbasket_bench_import` by default, never the development one.
"""

import argparse
import os
import sys
from pathlib import Path

import psycopg
from psycopg import sql

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/smartbasket_bench_import"


def _ensure_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--file", help="defaults to online_retail.csv.gz in SMARTBASKET_DATASETS_DIR")
    args = parser.parse_args()
    if args.database_url.rsplit("/", 1)[1] == "smartbasket":
        sys.exit("refusing to run on the development database")

    _ensure_database(args.database_url)
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartbasket.settings")
    sys.path.insert(0, str(PROJECT_ROOT))

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from orders.imports import transactions_import

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    path = Path(args.file) if args.file else settings.DATASETS_DIR / "online_retail.csv.gz"
    report = transactions_import(path=path, fmt="online-retail", progress=True)

    rows = [
        ("rows read", f"{report.rows_read:,}"),
        ("imported lines (rows)", f"{report.rows_staged:,}"),
        ("order lines created", f"{report.lines_created:,}"),
        ("orders", f"{report.orders_created:,}"),
        ("retailers", f"{report.retailers_created:,}"),
        ("products", f"{report.products_created:,}"),
        ("skipped", f"{sum(report.skipped.values()):,}"),
        ("rejected", f"{report.rejected_total:,}"),
        ("seconds", f"{report.seconds:.1f}"),
        ("rows/s", f"{report.rows_per_second:,.0f}"),
    ]
    print(f"\nOnline Retail import into {args.database_url.rsplit('/', 1)[1]} ({path.name})")
    print(f"{'measure':<24}{'value':>12}")
    print("-" * 36)
    for name, value in rows:
        print(f"{name:<24}{value:>12}")


if __name__ == "__main__":
    main()
