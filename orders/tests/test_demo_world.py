import io
from datetime import UTC, datetime

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command

from accounts.models import Retailer, User
from catalog.models import Product
from orders.demo_world import DEMO_PASSWORD, DemoWorldConfig, DemoWorldExists, demo_world_build
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
