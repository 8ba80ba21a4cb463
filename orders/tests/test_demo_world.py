import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.db import transaction
from django.db.models import Count, Max, Min, QuerySet, Sum

from accounts.models import Retailer, User
from catalog.models import Product
from orders.demo_world import (
    CATALOGUE,
    DEMO_PASSWORD,
    DEMO_VENDOR_DEPARTMENTS,
    DemoWorldConfig,
    DemoWorldExists,
    DemoWorldSummary,
    demo_world_build,
)
from orders.models import Order, OrderLine

pytestmark = pytest.mark.django_db

SMALL = DemoWorldConfig(seed=7, retailers=8, products=60, vendors=2, days=120)
TODAY = datetime(2026, 6, 1, tzinfo=UTC)


def _world() -> dict[str, list[tuple]]:
    return {
        "retailers": sorted(
            Retailer.objects.values_list("external_ref", "name", "segment", "region", "created_at")
        ),
        "products": sorted(
            Product.objects.values_list("sku", "name", "vendor__name", "unit_price", "created_at")
        ),
        "orders": sorted(Order.objects.values_list("retailer__external_ref", "placed_at", "status")),
        "lines": sorted(
            OrderLine.objects.values_list(
                "order__retailer__external_ref", "order__placed_at", "product__sku", "quantity"
            )
        ),
    }


def test_the_same_seed_builds_the_same_world():
    demo_world_build(config=SMALL, today=TODAY)
    first = _world()

    demo_world_build(config=SMALL, today=TODAY, reset=True)

    assert _world() == first
    assert len(first["products"]) == 60
    assert len(first["retailers"]) == 8
    assert len(first["orders"]) > 50


def test_it_creates_one_working_login_per_role_with_the_demo_retailer_having_the_richest_history():
    summary = demo_world_build(config=SMALL, today=TODAY)

    assert [login.role for login in summary.logins] == ["retailer", "vendor", "staff"]
    users = {
        login.role: authenticate(username=login.username, password=DEMO_PASSWORD) for login in summary.logins
    }
    assert users["retailer"].retailer.external_ref == "demo:0"
    assert users["vendor"].vendor.products.exists()
    assert users["staff"].is_staff and users["staff"].is_superuser
    line_counts = [
        OrderLine.objects.filter(order__retailer=retailer).count() for retailer in Retailer.objects.all()
    ]
    assert OrderLine.objects.filter(order__retailer=users["retailer"].retailer).count() == max(line_counts)


def test_the_history_has_staples_reordered_by_each_retailer():
    demo_world_build(config=SMALL, today=TODAY)
    demo_retailer = User.objects.get(username="demo-retailer").retailer

    lines = OrderLine.objects.filter(order__retailer=demo_retailer)
    orders = Order.objects.filter(retailer=demo_retailer).count()
    most_bought = max(lines.filter(product=line.product).count() for line in lines[:50])

    assert most_bought >= orders // 4
    assert not Order.objects.filter(status=Order.Status.DRAFT).exists()


def _own_and_popular_hits(k: int = 10) -> tuple[float, float]:
    """Mean share of each retailer's last order found in its own k most bought products before it, and in
    the k products most bought by everybody before it."""
    own_hits, popular_hits = [], []
    for retailer in Retailer.objects.all():
        orders = list(Order.objects.filter(retailer=retailer).order_by("placed_at"))
        if len(orders) < 2:
            continue
        last = set(OrderLine.objects.filter(order=orders[-1]).values_list("product", flat=True))
        before = OrderLine.objects.filter(order__placed_at__lt=orders[-1].placed_at)

        def top(lines: QuerySet) -> set[int]:
            ranked = lines.values("product").annotate(n=Count("id")).order_by("-n", "product")[:k]
            return {row["product"] for row in ranked}

        own_hits.append(len(last & top(before.filter(order__retailer=retailer))) / len(last))
        popular_hits.append(len(last & top(before)) / len(last))
    return sum(own_hits) / len(own_hits), sum(popular_hits) / len(popular_hits)


def test_without_personal_signal_a_retailers_history_predicts_its_next_order_no_better_than_popularity():
    config = DemoWorldConfig(seed=7, retailers=30, products=60, vendors=2, days=240)
    demo_world_build(config=config, today=TODAY)
    personal = _own_and_popular_hits()

    summary = demo_world_build(
        config=DemoWorldConfig(**{**vars(config), "personal_signal": False}), today=TODAY, reset=True
    )
    shared = _own_and_popular_hits()

    assert personal[0] > personal[1] + 0.1
    assert shared[0] <= shared[1] + 0.02
    assert summary.story is None and summary.orders > 30 * 10


def test_it_refuses_to_build_over_existing_demo_data():
    demo_world_build(config=SMALL, today=TODAY)

    with pytest.raises(DemoWorldExists):
        demo_world_build(config=SMALL, today=TODAY)


def test_the_command_prints_the_logins():
    stdout = io.StringIO()

    call_command(
        "seed_demo", "--retailers", "4", "--products", "30", "--vendors", "2", "--days", "60", stdout=stdout
    )

    assert "username demo-retailer" in stdout.getvalue()
    assert f"password {DEMO_PASSWORD}" in stdout.getvalue()
    with pytest.raises(CommandError, match="--reset"):
        call_command("seed_demo", "--retailers", "4", "--products", "30", stdout=io.StringIO())


def test_the_command_builds_the_world_without_personal_signal_when_asked():
    sizes = ["--retailers", "6", "--products", "40", "--vendors", "2", "--days", "90", "--seed", "3"]
    call_command("seed_demo", *sizes, "--no-personal-signal", stdout=io.StringIO())
    built = _world()

    config = DemoWorldConfig(seed=3, retailers=6, products=40, vendors=2, days=90, personal_signal=False)
    demo_world_build(config=config, reset=True)

    assert _world() == built


# --- The demo vendor's story, proved from raw placed order lines.

STORY = DemoWorldConfig(seed=42, retailers=90, products=240, vendors=3, days=760)
SUMMER, WINTER = (6, 7, 8), (12, 1, 2)
QUARTER = timedelta(days=90)


@pytest.fixture(scope="class")
def story_world(django_db_setup: None, django_db_blocker: object) -> Iterator[DemoWorldSummary]:
    # One world for the class, rolled back at its end; building it takes a few seconds.
    with django_db_blocker.unblock(), transaction.atomic():
        yield demo_world_build(config=STORY, today=TODAY)
        transaction.set_rollback(True)


def _vendor_lines(summary: DemoWorldSummary) -> QuerySet[OrderLine]:
    return OrderLine.objects.filter(
        order__status=Order.Status.PLACED, product__vendor__slug=summary.story.vendor_slug
    )


def _units(lines: QuerySet[OrderLine]) -> int:
    return lines.aggregate(units=Sum("quantity"))["units"] or 0


def _between(lines: QuerySet[OrderLine], start: datetime, end: datetime) -> QuerySet[OrderLine]:
    return lines.filter(order__placed_at__gte=start, order__placed_at__lt=end)


def _season_ratio(lines: QuerySet[OrderLine], season: str) -> float:
    """Units sold in the season's peak months over units in its trough months, over the whole history."""
    names = [
        name for categories in CATALOGUE.values() for name, spec in categories.items() if spec[3] == season
    ]
    seasonal = lines.filter(product__category__name__in=names)
    peak, trough = (SUMMER, WINTER) if season == "summer" else (WINTER, SUMMER)
    return _units(seasonal.filter(order__placed_at__month__in=peak)) / _units(
        seasonal.filter(order__placed_at__month__in=trough)
    )


class TestTheDemoVendorsStory:
    def test_the_demo_vendor_login_belongs_to_the_story_vendor(self, story_world: DemoWorldSummary):
        vendor_user = User.objects.get(username="demo-vendor")

        assert vendor_user.vendor.slug == story_world.story.vendor_slug
        assert set(DEMO_VENDOR_DEPARTMENTS) <= set(
            vendor_user.vendor.products.values_list("category__parent__name", flat=True)
        )

    def test_its_summer_lines_sell_several_times_more_in_summer_and_its_hot_drinks_in_winter(
        self, story_world: DemoWorldSummary
    ):
        lines = _vendor_lines(story_world)

        assert _season_ratio(lines, "summer") >= 3
        assert _season_ratio(lines, "winter") >= 1.5

    def test_the_history_covers_two_full_years_so_a_year_earlier_exists_for_a_whole_year(
        self, story_world: DemoWorldSummary
    ):
        placed = Order.objects.filter(status=Order.Status.PLACED).aggregate(
            first=Min("placed_at"), last=Max("placed_at")
        )

        assert (placed["last"] - placed["first"]).days >= 2 * 365

    def test_the_rising_product_is_taken_up_by_ever_more_retailers(self, story_world: DemoWorldSummary):
        lines = _vendor_lines(story_world).filter(product__sku=story_world.story.rising_sku)
        last, previous = (
            _between(lines, TODAY - QUARTER, TODAY),
            _between(lines, TODAY - 2 * QUARTER, TODAY - QUARTER),
        )

        assert _units(last) >= 1.4 * _units(previous) > 0
        year_earlier = _between(lines, TODAY - QUARTER - timedelta(days=365), TODAY - timedelta(days=365))
        assert _units(last) >= 3 * _units(year_earlier)
        buyers = [query.values("order__retailer").distinct().count() for query in (previous, last)]
        assert buyers[1] > buyers[0]

    def test_the_falling_product_loses_its_buyers(self, story_world: DemoWorldSummary):
        lines = _vendor_lines(story_world).filter(product__sku=story_world.story.falling_sku)
        last = _between(lines, TODAY - QUARTER, TODAY)
        year_earlier = _between(lines, TODAY - QUARTER - timedelta(days=365), TODAY - timedelta(days=365))

        assert _units(last) <= 0.7 * _units(_between(lines, TODAY - 2 * QUARTER, TODAY - QUARTER))
        assert _units(last) <= 0.5 * _units(year_earlier)
        assert (
            last.values("order__retailer").distinct().count()
            < year_earlier.values("order__retailer").distinct().count()
        )

    def test_one_region_buys_the_missing_products_companions_but_never_it(
        self, story_world: DemoWorldSummary
    ):
        story = story_world.story
        lines = _vendor_lines(story_world)
        in_region = lines.filter(order__retailer__region=story.missing_region)
        elsewhere = lines.exclude(order__retailer__region=story.missing_region)
        companion_buyers = (
            in_region.filter(product__sku__in=story.companion_skus)
            .values("order__retailer")
            .distinct()
            .count()
        )
        missing_orders = set(elsewhere.filter(product__sku=story.missing_sku).values_list("order", flat=True))
        with_companion = set(
            elsewhere.filter(order__in=missing_orders, product__sku__in=story.companion_skus).values_list(
                "order", flat=True
            )
        )

        assert not in_region.filter(product__sku=story.missing_sku).exists()
        assert companion_buyers >= 5
        # Elsewhere it is bought, mostly together with its companions.
        assert len(missing_orders) >= 50
        assert len(with_companion) >= 0.5 * len(missing_orders)
