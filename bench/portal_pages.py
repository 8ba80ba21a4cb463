"""Server time of the retailer portal's pages on the Online Retail data, served by gunicorn; prints a table.

Run from the project root: `python bench/portal_pages.py [--requests 200] [--fresh]`.

It uses its own PostgreSQL database (`smartbasket_bench_portal` by default, never the development one): the
first run migrates it, imports the Online Retail file with `import_transactions --format online-retail` and
retrains in-process; later runs reuse that data unless --fresh is given. It then signs in as the retailer with
the most orders (a session cookie made directly in the database), fills its basket with a few of its usual
products, starts gunicorn with 5 workers on 127.0.0.1 and requests each page a bounded number of times, one
request at a time. "Server" times are gunicorn's own request durations from its access log; "client" times add
the loopback HTTP.
"""

import argparse
import statistics
import sys
from pathlib import Path

import benchdb

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/smartbasket_bench_portal"
BENCH_USERNAME = "bench-retailer"
BASKET_PRODUCTS = 5
WARMUP_REQUESTS = 10
REQUEST_TIMEOUT = 60


def _prepare_data(env: dict[str, str], *, dataset: Path, hybrid_params: str) -> None:
    """Import and train unless an earlier run already did (both steps are idempotent, but slow)."""
    from orders.models import Order
    from recommendations.selectors import active_version

    benchdb.manage(env, "migrate", "--verbosity", "0")
    if not Order.objects.filter(source="online-retail").exists():
        benchdb.manage(env, "import_transactions", str(dataset), "--format", "online-retail", "--no-progress")
    if active_version() is None:
        benchdb.manage(env, "retrain", "--in-process", "--hybrid-params", hybrid_params)
    benchdb.manage(env, "collectstatic", "--noinput", "--verbosity", "0")


def _bench_session() -> tuple[str, dict[str, int]]:
    """A signed-in session of a member of the busiest retailer, whose basket holds a few usual products."""
    from django.db.models import Count

    from accounts.models import Retailer, User
    from catalog.models import Product
    from orders.models import Order
    from orders.selectors import basket_summary
    from orders.services import basket_add_product

    retailer = Retailer.objects.annotate(placed=Count("orders")).order_by("-placed", "pk").first()
    if retailer is None:
        sys.exit("no retailers: the import did not run")
    user = User.objects.filter(username=BENCH_USERNAME).first()
    if user is None or user.retailer_id != retailer.pk:
        User.objects.filter(username=BENCH_USERNAME).delete()
        user = User.objects.create_user(username=BENCH_USERNAME, role=User.Role.RETAILER, retailer=retailer)
    if not basket_summary(retailer=retailer).lines:
        usual = (
            Product.objects.filter(is_active=True, order_lines__order__retailer=retailer)
            .annotate(times=Count("order_lines"))
            .order_by("-times", "pk")[:BASKET_PRODUCTS]
        )
        for product in usual:
            basket_add_product(retailer=retailer, product=product, quantity=2)

    session_key = benchdb.signed_in_session_key(user)
    facts = {
        "retailer orders": Order.objects.filter(retailer=retailer, status=Order.Status.PLACED).count(),
        "basket lines": len(basket_summary(retailer=retailer).lines),
        "orders in database": Order.objects.count(),
        "products in database": Product.objects.count(),
    }
    return session_key, facts


def _print_table(results: list[benchdb.Timings], *, workers: int, facts: dict[str, int]) -> None:
    print(f"\nPortal pages on Online Retail, gunicorn {workers} workers, one request at a time")
    for name, value in facts.items():
        print(f"  {name}: {value:,}")
    header = f"{'page':<22}{benchdb.TIMING_COLUMNS}"
    print(header)
    print("-" * len(header))
    for result in results:
        print(f"{result.page.name:<22}{benchdb.timing_cells(result)}")
    print("(server = gunicorn's request duration; mean server time over all pages", end=" ")
    print(f"{statistics.fmean(t for r in results for t in r.server_ms):.1f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    benchdb.add_page_arguments(parser, database_url=DEFAULT_DATABASE_URL, requests=200, port=8765)
    parser.add_argument("--file", help="defaults to online_retail.csv.gz in SMARTBASKET_DATASETS_DIR")
    parser.add_argument("--fresh", action="store_true", help="drop the bench database and import again")
    parser.add_argument(
        "--hybrid-params", default="{}", help="JSON passed to `retrain --hybrid-params` on the first run"
    )
    args = parser.parse_args()
    benchdb.check_page_arguments(args)

    benchdb.ensure_database(args.database_url, fresh=args.fresh)
    env = benchdb.setup_django(args.database_url)
    from django.conf import settings
    from django.urls import reverse

    dataset = Path(args.file) if args.file else settings.DATASETS_DIR / "online_retail.csv.gz"
    _prepare_data(env, dataset=dataset, hybrid_params=args.hybrid_params)
    session_key, facts = _bench_session()
    pages = [
        benchdb.Page("dashboard", reverse("recommendations:dashboard")),
        benchdb.Page("catalogue", reverse("catalog:list")),
        benchdb.Page("basket", reverse("orders:basket")),
        benchdb.Page(
            "basket suggestions", reverse("orders:basket_suggestions"), htmx_target="basket-suggestions"
        ),
    ]

    results = benchdb.measure_pages(
        env, pages, session_key=session_key, args=args, warmup=WARMUP_REQUESTS, timeout=REQUEST_TIMEOUT
    )
    _print_table(results, workers=args.workers, facts=facts)


if __name__ == "__main__":
    main()
