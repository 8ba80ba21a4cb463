"""`manage.py evaluate_forecasts` on small transaction files and on the database's placed orders."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from catalog.tests.factories import ProductFactory
from orders.tests.factories import OrderFactory, OrderLineFactory

MONDAY = datetime(2024, 1, 1, 10, 0, tzinfo=UTC)
WEEKS = 16
SCORE_KEYS = {"wape", "mase", "bias", "coverage@80", "coverage@95", "seconds"}
OPTIONS = ("--origins", "2", "--horizon", "2", "--min-history", "8")


def units(product: int, week: int) -> int:
    """A known, varied weekly demand: a level per product, a weekly wiggle and weeks without sales."""
    if (week + product) % 5 == 0:
        return 0
    return 3 + product + (week * (product + 1)) % 4


def write_generic_csv(path: Path) -> None:
    lines = ["Shop,When,SKU,Qty"]
    for week in range(WEEKS):
        for product in range(4):
            if quantity := units(product, week):
                day = MONDAY + timedelta(weeks=week, days=product % 3)
                lines.append(f"Shop {product % 2},{day:%Y-%m-%d %H:%M},SKU-{product},{quantity}")
    # A sale on the (partial) week after the last full one must be left out.
    lines.append(f"Shop 0,{MONDAY + timedelta(weeks=WEEKS, days=1):%Y-%m-%d %H:%M},SKU-0,99")
    path.write_text("\n".join(lines) + "\n")


def assert_scores(payload: dict, series: int) -> None:
    methods = payload["methods"]
    for key in ("naive", "window_average", "auto_ets", "imapa", "tsb", "combination", "selection"):
        assert set(methods[key]) >= SCORE_KEYS, key
        assert methods[key]["series"] == series
        assert 0 <= methods[key]["coverage@80"] <= methods[key]["coverage@95"] <= 1
    assert payload["horizon"] == 2 and len(payload["origins"]) == 2


def test_evaluates_a_generic_csv_and_writes_the_json_keys(tmp_path: Path, capsys) -> None:
    dataset, out = tmp_path / "sales.csv", tmp_path / "scores.json"
    write_generic_csv(dataset)

    call_command(
        "evaluate_forecasts",
        "--dataset",
        str(dataset),
        "--format",
        "csv",
        "--mapping",
        "customer=Shop,date=When,product=SKU,quantity=Qty",
        "--json",
        str(out),
        *OPTIONS,
    )

    payload = json.loads(out.read_text())
    assert_scores(payload, series=4)
    first_naive = payload["methods"]["naive"]
    assert first_naive["wape"] > 0
    # 16 full weeks from 2024-01-01: the last full week is 2024-04-15, the partial one after it is dropped.
    assert payload["last_week"] == "2024-04-15"
    assert payload["origins"] == ["2024-03-25", "2024-04-01"]
    printed = capsys.readouterr().out
    assert "| Per-series selection |" in printed and "Rolling origin" in printed


def test_evaluates_an_online_retail_file(tmp_path: Path) -> None:
    dataset, out = tmp_path / "online_retail.csv", tmp_path / "scores.json"
    rows = ["InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"]
    for week in range(WEEKS):
        for product in range(3):
            if quantity := units(product, week):
                day = MONDAY + timedelta(weeks=week, days=2)
                rows.append(
                    f"{5000 + week},{85120 + product},ITEM {product},{quantity},{day:%Y-%m-%d %H:%M:%S},"
                    f"1.25,{17850 + product}.0,United Kingdom"
                )
    # A cancellation is no sale.
    rows.append(f"C9999,85120,ITEM 0,-50,{MONDAY:%Y-%m-%d %H:%M:%S},1.25,17850.0,United Kingdom")
    dataset.write_text("\n".join(rows) + "\n")

    call_command(
        "evaluate_forecasts",
        "--dataset",
        str(dataset),
        "--format",
        "online-retail",
        "--json",
        str(out),
        *OPTIONS,
    )

    assert_scores(json.loads(out.read_text()), series=3)


def test_unreadable_file_is_a_command_error(tmp_path: Path) -> None:
    dataset = tmp_path / "empty.csv"
    dataset.write_text("")

    with pytest.raises(CommandError, match="is empty"):
        call_command("evaluate_forecasts", "--dataset", str(dataset), "--format", "online-retail")


@pytest.mark.django_db
def test_evaluates_the_placed_orders_of_the_database(tmp_path: Path) -> None:
    products = ProductFactory.create_batch(3)
    for week in range(WEEKS):
        order = OrderFactory(placed_at=MONDAY + timedelta(weeks=week, days=3))
        for index, product in enumerate(products):
            if quantity := units(index, week):
                OrderLineFactory(order=order, product=product, quantity=quantity)
    # Baskets and cancelled orders are not demand.
    OrderLineFactory(order=OrderFactory(basket=True), product=products[0], quantity=500)
    cancelled = OrderFactory(cancelled=True, placed_at=MONDAY + timedelta(weeks=WEEKS - 3))
    OrderLineFactory(order=cancelled, product=products[0], quantity=500)
    out = tmp_path / "scores.json"

    call_command("evaluate_forecasts", "--json", str(out), *OPTIONS)

    payload = json.loads(out.read_text())
    assert payload["source"] == "database"
    assert_scores(payload, series=3)
    # The naive forecast's error is recomputed from the orders above: the demand of the two origins.
    actual = {(index, week): units(index, week) for index in range(3) for week in range(WEEKS)}
    # The last order's week is not over (orders come on Thursdays): the last full week is the one before.
    last = WEEKS - 2
    errors = total = 0.0
    for origin in (last - 3, last - 2):
        for index in range(3):
            for step in (1, 2):
                errors += abs(actual[index, origin + step] - actual[index, origin])
                total += actual[index, origin + step]
    assert payload["methods"]["naive"]["wape"] == pytest.approx(errors / total, abs=1e-4)


@pytest.mark.django_db
def test_database_without_placed_orders_is_a_command_error() -> None:
    OrderLineFactory(order=OrderFactory(basket=True))

    with pytest.raises(CommandError, match="no placed orders"):
        call_command("evaluate_forecasts")
