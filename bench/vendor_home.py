"""Time of the vendor analytics page's queries on the Online Retail data; prints a table.

Run from the project root: `python bench/vendor_home.py [--database-url URL] [--repeat 5]`.

It only reads. By default it uses `smartbasket_bench_portal`, the database `bench/portal_pages.py` builds
(all Online Retail products belong to one vendor there, the worst case for this page). For every selector the
vendor home page calls it prints the median and worst wall time over `--repeat` runs and the number of SQL
queries, then the same for the whole page rendered through the Django test client.
"""

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/smartbasket_bench_portal"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartbasket.settings")
    os.environ.setdefault("DEBUG", "1")
    sys.path.insert(0, str(PROJECT_ROOT))
    import django

    django.setup()
    from django.core.paginator import Paginator
    from django.db import connection
    from django.db.models import Count
    from django.test.utils import CaptureQueriesContext

    from vendors import selectors
    from vendors.models import Vendor

    vendor = Vendor.objects.annotate(n=Count("products")).order_by("-n").first()
    if vendor is None:
        sys.exit(f"No vendor in {args.database_url}; run bench/portal_pages.py first to build it.")
    as_of = selectors.analytics_as_of()
    print(f"vendor {vendor.name!r}: {vendor.n} products; as of {as_of:%Y-%m-%d %H:%M}")

    steps: list[tuple[str, Callable[[], object]]] = [
        ("analytics_as_of", selectors.analytics_as_of),
        ("vendor_period_figures", lambda: selectors.vendor_period_figures(vendor=vendor, as_of=as_of)),
        ("vendor_top_products", lambda: selectors.vendor_top_products(vendor=vendor, as_of=as_of)),
        ("vendor_weekly_demand", lambda: selectors.vendor_weekly_demand(vendor=vendor, as_of=as_of)),
        (
            "product table, page 1 of 25",
            lambda: list(
                Paginator(selectors.vendor_product_performance(vendor=vendor, as_of=as_of), 25).get_page(1)
            ),
        ),
    ]
    print(f"{'step':<30} {'median ms':>10} {'max ms':>8} {'queries':>8}")
    for name, step in steps:
        durations = []
        for _ in range(args.repeat):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                step()
                durations.append((time.perf_counter() - started) * 1000)
        print(f"{name:<30} {statistics.median(durations):>10.1f} {max(durations):>8.1f} {len(queries):>8}")


if __name__ == "__main__":
    main()
