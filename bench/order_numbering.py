"""Time the set-based order numbering (`orders_number_unnumbered`) of all orders of an Online Retail import.

Run from the project root after `bench/import_online_retail.py` (whose database it reads):
`python bench/order_numbering.py [--database-url URL] [--runs N]`. Each run clears every number and counter,
numbers all orders again and is rolled back, so the database is left as it was. It then checks that each
retailer's numbers are 1..n in placed order.
"""

import argparse
import os
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/smartbasket_bench_import"
OUT_OF_ORDER = """
SELECT COUNT(*) FROM (
    SELECT number, ROW_NUMBER() OVER (PARTITION BY retailer_id ORDER BY placed_at, id) AS expected
    FROM orders_order WHERE status <> 'draft'
) AS numbered WHERE number IS DISTINCT FROM expected
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.database_url.rsplit("/", 1)[1] == "smartbasket":
        sys.exit("refusing to run on the development database")
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartbasket.settings")
    sys.path.insert(0, str(PROJECT_ROOT))

    import django

    django.setup()
    from django.db import connection, transaction

    from orders.models import Order, OrderNumberCounter
    from orders.services import orders_number_unnumbered

    placed = Order.objects.exclude(status=Order.Status.DRAFT)
    orders, retailers = placed.count(), placed.values("retailer").distinct().count()
    if not orders:
        sys.exit("no orders: run bench/import_online_retail.py first")
    rows = []
    for run in range(1, args.runs + 1):
        with transaction.atomic():
            Order.objects.update(number=None)
            OrderNumberCounter.objects.all().delete()
            started = time.perf_counter()
            numbered = orders_number_unnumbered()
            rows.append((f"run {run}: {numbered:,} numbered", f"{time.perf_counter() - started:.2f} s"))
            transaction.set_rollback(True)
    started = time.perf_counter()
    with transaction.atomic():
        orders_number_unnumbered()
    rows.append(("nothing pending", f"{time.perf_counter() - started:.2f} s"))
    with connection.cursor() as cursor:
        cursor.execute(OUT_OF_ORDER)
        rows.append(("orders not numbered 1..n in placed order", f"{cursor.fetchone()[0]:,}"))

    database = args.database_url.rsplit("/", 1)[1]
    print(f"\nOrder numbering of {orders:,} orders of {retailers:,} retailers ({database})")
    print(f"{'measure':<44}{'value':>10}")
    print("-" * 54)
    for name, value in rows:
        print(f"{name:<44}{value:>10}")


if __name__ == "__main__":
    main()
