"""Order numbers are per retailer (#1, #2, ...): given once, never shared, by every path making orders."""

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.utils import IntegrityError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import RetailerFactory, UserFactory
from catalog.tests.factories import ProductFactory
from orders.demo_world import DemoWorldConfig, demo_world_build
from orders.imports import transactions_import
from orders.models import Order, OrderNumberCounter
from orders.services import basket_add_product, basket_get_or_create, order_number_allocate, order_place
from orders.sources import ColumnMapping
from orders.tests.factories import OrderFactory
from orders.tests.test_api import _signed_in

pytestmark = pytest.mark.django_db

GENERIC_MAPPING = ColumnMapping.parse(
    "customer=Shop,order=Ticket,date=When,product=SKU,description=Item,quantity=Qty,price=Price,category=Section"
)
HEADER = "Shop,Ticket,When,SKU,Item,Qty,Price,Section\n"


def _place_one(retailer) -> Order:
    basket_add_product(retailer=retailer, product=ProductFactory())
    return order_place(order=Order.objects.get(retailer=retailer, status=Order.Status.DRAFT))


def _numbers(retailer) -> list[tuple[str, int]]:
    """(external ref or id, number) of the retailer's orders in placed order."""
    orders = (
        Order.objects.filter(retailer=retailer).exclude(status=Order.Status.DRAFT).order_by("placed_at", "id")
    )
    return [(order.external_ref or str(order.pk), order.number) for order in orders]


def test_each_retailer_numbers_its_own_orders_from_one():
    first, second = RetailerFactory(), RetailerFactory()

    placed = [_place_one(first), _place_one(second), _place_one(first), _place_one(first)]

    assert [(order.retailer_id, order.number) for order in placed] == [
        (first.pk, 1),
        (second.pk, 1),
        (first.pk, 2),
        (first.pk, 3),
    ]
    assert OrderNumberCounter.objects.get(retailer=first).last_number == 3
    assert basket_get_or_create(retailer=first).number is None


def test_placing_in_the_portal_says_the_retailers_number_and_the_list_and_page_show_it(client: Client):
    user = UserFactory()
    OrderFactory.create_batch(2, retailer=user.retailer)
    OrderFactory()  # another retailer's order does not move this one's numbers
    client.force_login(user)
    basket_add_product(retailer=user.retailer, product=ProductFactory(name="Jam jar"))

    response = client.post(reverse("orders:place"), follow=True)

    order = Order.objects.get(retailer=user.retailer, number=3)
    assert "Order #3 placed. Thank you!" in response.content.decode()
    assert "<h1>Order #3</h1>" in response.content.decode()
    listing = client.get(reverse("orders:list")).content.decode()
    assert f'<a href="{reverse("orders:detail", args=[order.pk])}">#3</a>' in listing


def test_the_api_gives_the_number_beside_the_internal_id():
    user = UserFactory()
    OrderFactory(retailer=user.retailer)
    api = _signed_in(user)
    api.post(reverse("api-v1-basket-items"), {"product_id": ProductFactory().pk}, format="json")

    placed = api.post(reverse("api-v1-basket-place"), {}, format="json").json()

    order = Order.objects.get(pk=placed["id"])
    assert (placed["number"], order.number) == (2, 2)
    assert api.get(reverse("api-v1-order-detail", args=[order.pk])).json()["number"] == 2
    assert [row["number"] for row in api.get(reverse("api-v1-orders")).json()["results"]] == [2, 1]


def test_two_orders_of_one_retailer_can_never_share_a_number():
    order = OrderFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        OrderFactory(retailer=order.retailer, number=order.number)


@pytest.mark.django_db(transaction=True)
def test_a_second_placing_waits_for_the_first_to_commit_and_takes_the_next_number():
    """Two placings of one retailer at once (PostgreSQL): the second waits on the counter row, then goes."""
    retailer = RetailerFactory()
    basket_add_product(retailer=retailer, product=ProductFactory())
    basket = Order.objects.get(retailer=retailer, status=Order.Status.DRAFT)
    first_placed, release, numbers, errors = threading.Event(), threading.Event(), {}, []

    def first() -> None:
        try:
            with transaction.atomic():
                numbers["first"] = order_place(order=basket).number
                first_placed.set()
                # Keep the transaction (and its lock) open while the second placing starts.
                release.wait(10)
        except Exception as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            first_placed.set()
            connection.close()

    def second() -> None:
        try:
            with transaction.atomic():
                numbers["second"] = order_number_allocate(retailer_id=retailer.pk)
                Order.objects.create(
                    retailer=retailer,
                    status=Order.Status.PLACED,
                    placed_at=timezone.now(),
                    number=numbers["second"],
                )
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert first_placed.wait(10)
    threads[1].start()
    threads[1].join(0.5)
    waited = threads[1].is_alive()
    release.set()
    for thread in threads:
        thread.join(10)

    assert not errors
    assert waited, "the second placing did not wait for the first one's lock"
    assert numbers == {"first": 1, "second": 2}
    assert sorted(Order.objects.filter(retailer=retailer).values_list("number", flat=True)) == [1, 2]


@pytest.mark.django_db(transaction=True)
def test_a_portal_placing_and_an_import_for_the_same_retailer_at_once_get_different_numbers(tmp_path: Path):
    retailer = RetailerFactory(external_ref="csv:Shop A")
    basket_add_product(retailer=retailer, product=ProductFactory())
    basket = Order.objects.get(retailer=retailer, status=Order.Status.DRAFT)
    path = tmp_path / "till.csv"
    path.write_text(
        HEADER
        + "Shop A,T1,2024-03-01 09:30,COF-1,Coffee,1,12.50,Drinks / Coffee\n"
        + "Shop A,T2,2024-03-02 09:30,COF-1,Coffee,1,12.50,Drinks / Coffee\n"
    )
    start, errors = threading.Barrier(2), []

    def run(work) -> None:
        try:
            start.wait(10)
            work()
        except Exception as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(lambda: order_place(order=basket),)),
        threading.Thread(
            target=run, args=(lambda: transactions_import(path=path, fmt="csv", mapping=GENERIC_MAPPING),)
        ),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert not errors
    numbers = sorted(Order.objects.filter(retailer=retailer).values_list("number", flat=True))
    assert numbers == [1, 2, 3]
    assert OrderNumberCounter.objects.get(retailer=retailer).last_number == 3


def test_an_import_numbers_each_retailers_orders_in_placed_order_after_its_existing_ones(tmp_path: Path):
    existing = RetailerFactory(external_ref="csv:Shop A")
    portal = _place_one(existing)
    path = tmp_path / "orders.csv"
    # T3 comes first in the file but was placed last.
    path.write_text(
        HEADER
        + "Shop A,T3,2024-03-09 09:30,COF-1,Coffee,1,12.50,Drinks / Coffee\n"
        + "Shop A,T1,2024-03-01 09:30,COF-1,Coffee,1,12.50,Drinks / Coffee\n"
        + "Shop B,T4,2024-03-05 09:30,COF-1,Coffee,1,12.50,Drinks / Coffee\n"
        + "Shop A,T2,2024-03-02 09:30,MLK-2,Milk,2,1.80,Fresh / Dairy\n"
    )

    transactions_import(path=path, fmt="csv", mapping=GENERIC_MAPPING)
    again = transactions_import(path=path, fmt="csv", mapping=GENERIC_MAPPING)

    assert again.orders_created == 0
    # The portal order (placed today) keeps #1; the imported ones, older, follow it in their placed order.
    assert _numbers(existing) == [("T1", 2), ("T2", 3), ("T3", 4), (str(portal.pk), 1)]
    shop_b = Order.objects.get(external_ref="T4").retailer
    assert _numbers(shop_b) == [("T4", 1)]
    # The portal goes on after the imported numbers.
    assert _place_one(existing).number == 5
    assert _place_one(shop_b).number == 2


def test_the_demo_world_numbers_every_retailers_history_from_one_in_placed_order():
    demo_world_build(config=DemoWorldConfig(seed=7, retailers=4, products=40, vendors=2, days=60))

    for counter in OrderNumberCounter.objects.select_related("retailer"):
        numbers = [number for _ref, number in _numbers(counter.retailer)]
        assert numbers == list(range(1, len(numbers) + 1))
        assert counter.last_number == len(numbers)
    assert not Order.objects.exclude(status=Order.Status.DRAFT).filter(number__isnull=True).exists()


@pytest.mark.django_db(transaction=True)
def test_the_migration_numbers_existing_orders_per_retailer_in_placed_order():
    executor = MigrationExecutor(connection)
    executor.migrate([("orders", "0003_importrun_status")])
    old_apps = executor.loader.project_state([("orders", "0003_importrun_status")]).apps
    OldRetailer, OldOrder = old_apps.get_model("accounts", "Retailer"), old_apps.get_model("orders", "Order")
    shops = [OldRetailer.objects.create(name=name) for name in ("Shop A", "Shop B")]
    for shop, day in [(shops[0], 9), (shops[1], 3), (shops[0], 2), (shops[0], 5)]:
        OldOrder.objects.create(retailer=shop, status="placed", placed_at=datetime(2026, 1, day, tzinfo=UTC))
    OldOrder.objects.create(retailer=shops[1], status="draft")

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    numbered = Order.objects.order_by("retailer_id", "placed_at").values_list(
        "retailer__name", "placed_at__day", "number"
    )
    assert list(numbered) == [
        ("Shop A", 2, 1),
        ("Shop A", 5, 2),
        ("Shop A", 9, 3),
        ("Shop B", 3, 1),
        ("Shop B", None, None),
    ]
    assert dict(OrderNumberCounter.objects.values_list("retailer__name", "last_number")) == {
        "Shop A": 3,
        "Shop B": 1,
    }
    assert _place_one(Order.objects.get(number=3).retailer).number == 4
