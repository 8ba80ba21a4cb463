import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from catalog.tests.factories import ProductFactory
from orders.models import Order
from orders.tests.factories import OrderFactory, OrderLineFactory
from recommendations.ml.leaderboard import finite_json
from recommendations.training_data import training_data_from_db

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"


def _write_online_retail(path: Path) -> None:
    lines = [HEADER]
    invoice = 500000
    for customer in range(12):
        for k in range(4):
            invoice += 1
            day = datetime(2011, 1, 3) + timedelta(days=7 * k + customer % 3)
            codes = [f"2{customer % 4:04d}", f"3{customer % 3:04d}", "85123A"] + (["22423"] if k % 2 else [])
            for code in codes:
                lines.append(
                    f"{invoice},{code},ITEM {code},2,{day:%Y-%m-%d %H:%M:%S},1.25,{17000 + customer}.0,UK\n"
                )
    lines.append(f"C{invoice},85123A,RETURN,-1,2011-03-01 10:00:00,1.25,17000.0,UK\n")
    path.write_text("".join(lines))


def test_evaluate_writes_one_json_entry_per_model_with_keyed_metrics(tmp_path: Path) -> None:
    source, out = tmp_path / "retail.csv", tmp_path / "board.json"
    _write_online_retail(source)
    with open(tmp_path / "log.txt", "w") as log:
        call_command("evaluate", dataset=str(source), fmt="online-retail", json_out=str(out), stdout=log)
    board = json.loads(out.read_text())
    names = [row["name"] for row in board["models"]]
    assert names[-1] == "hybrid"
    assert {"own_top_readme", "popularity", "repeat", "neural", "hybrid"} <= set(names)
    for row in board["models"]:
        assert {"recall@10", "ndcg@10", "hit@10", "completion_hit@1"} <= set(row["metrics"])
        assert row["train_seconds"] >= 0
    assert board["test_baskets"] == 12
    for surface in ("for_you", "new_for_you"):
        table = board["calibration"][surface]
        assert table["pairs"] == sum(row["count"] for row in table["bins"]) > 0
        assert 0 <= table["ece"] <= 1
    assert set(board["calibration"]["calibrators"]) == {"for_you", "new_for_you", "popular"}
    printed = (tmp_path / "log.txt").read_text()
    # A table and short lines for people, no dict printed raw.
    assert "hybrid weights: " in printed and "{" not in printed
    assert '"for_you" probabilities on the test baskets: ECE' in printed
    assert "| predicted bin | predicted mean | observed rate | count |" in printed


def test_evaluate_prints_diversity_and_overlap_beside_accuracy_with_lambda_fixed_on_validation(
    tmp_path: Path,
) -> None:
    source, out = tmp_path / "retail.csv", tmp_path / "board.json"
    _write_online_retail(source)
    with open(tmp_path / "log.txt", "w") as log:
        call_command("evaluate", dataset=str(source), fmt="online-retail", json_out=str(out), stdout=log)
    board = json.loads(out.read_text())
    printed = (tmp_path / "log.txt").read_text()

    assert "| lists | surface | lambda | recall@10 | ndcg@10 | ILD category |" in printed
    rows = {(row["variant"], row["surface"]): row for row in board["sections"]["rows"]}
    assert len(rows) == 6
    laid_out = rows[("laid out + MMR", "for_you")]
    assert laid_out["in_due"] == 0 and laid_out["in_new_for_you"] == 0
    assert laid_out["lambda"] == board["diversity_lambdas"]["for_you"]["lambda"]
    assert board["diversity_lambdas"]["for_you"]["validation_baskets"] == 12
    # Online Retail has no categories or vendors: content is the only aspect measured.
    assert laid_out["diversity"]["category"] is None and laid_out["diversity"]["content"] is not None


def test_evaluate_refuses_a_file_in_the_wrong_format(tmp_path: Path) -> None:
    source = tmp_path / "bad.csv"
    source.write_text("a,b\n1,2\n")
    with pytest.raises(CommandError):
        call_command("evaluate", dataset=str(source), fmt="online-retail")


@pytest.mark.django_db
def test_training_data_from_db_reads_placed_orders_only_up_to_the_cutoff() -> None:
    milk, bread = ProductFactory(name="Milk"), ProductFactory(name="Bread")
    placed = OrderFactory(placed_at=datetime(2024, 1, 1, tzinfo=UTC))
    OrderLineFactory(order=placed, product=milk, quantity=3)
    later = OrderFactory(retailer=placed.retailer, placed_at=datetime(2024, 2, 1, tzinfo=UTC))
    OrderLineFactory(order=later, product=bread)
    OrderLineFactory(order=OrderFactory(retailer=placed.retailer, basket=True), product=bread)
    OrderLineFactory(order=OrderFactory(status=Order.Status.CANCELLED), product=bread)

    data = training_data_from_db(cutoff=datetime(2024, 1, 15, tzinfo=UTC))
    assert data.interactions[["retailer", "order", "product", "quantity"]].values.tolist() == [
        [placed.retailer_id, placed.pk, milk.pk, 3.0]
    ]
    assert data.products.loc[milk.pk, "name"] == "Milk"
    assert data.retailers.loc[placed.retailer_id, "segment"] == placed.retailer.segment
    assert len(training_data_from_db(retailer_id=placed.retailer_id).interactions) == 2


def _write_one_order_each(path: Path) -> None:
    lines = [HEADER]
    for customer in range(5):
        day = datetime(2011, 1, 3) + timedelta(days=customer)
        for code in ("85123A", "22423", f"2{customer:04d}"):
            lines.append(
                f"{500000 + customer},{code},ITEM,2,{day:%Y-%m-%d %H:%M:%S},1.25,{17000 + customer}.0,UK\n"
            )
    path.write_text("".join(lines))


def test_evaluate_fails_with_a_clear_message_when_no_customer_has_two_orders(tmp_path: Path) -> None:
    source = tmp_path / "retail.csv"
    _write_one_order_each(source)

    with pytest.raises(CommandError, match="none of the 5 retailers has 2 or more orders"):
        call_command("evaluate", dataset=str(source), fmt="online-retail", stdout=StringIO())

    # From the shell: a non-zero exit, the reason on stderr, no table of zeros and no JSON written.
    out = tmp_path / "board.json"
    command = [sys.executable, "manage.py", "evaluate", "--dataset", str(source), "--json", str(out)]
    run = subprocess.run(command, cwd=Path(__file__).parents[3], capture_output=True, text=True)
    assert run.returncode != 0
    assert "none of the 5 retailers has 2 or more orders" in run.stderr
    assert "| model |" not in run.stdout and not out.exists()


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    """`evaluate` on the 12-retailer file plus rows it cannot use: the JSON as written and what it printed."""
    folder = tmp_path_factory.mktemp("evaluated")
    source, out = folder / "retail.csv", folder / "board.json"
    _write_online_retail(source)
    with source.open("a") as rows:
        rows.write("500100,85123A,NO CUSTOMER,2,2011-03-01 10:00:00,1.25,,UK\n")
        rows.write("500101,85123A,BAD QUANTITY,two,2011-03-01 10:00:00,1.25,17000.0,UK\n")
        rows.write("500102,85123A,BAD QUANTITY,2.5,2011-03-01 10:00:00,1.25,17001.0,UK\n")
        rows.write("500103,85123A,BAD DATE,2,01/03/2011 10:00,1.25,17002.0,UK\n")
        rows.write("500104,POST,POSTAGE,1,2011-03-01 10:00:00,18.00,17003.0,UK\n")
    printed = StringIO()
    call_command("evaluate", dataset=str(source), fmt="online-retail", json_out=str(out), stdout=printed)
    return json.loads(out.read_text()), printed.getvalue()


def test_evaluate_counts_the_rows_it_dropped_by_reason_and_prints_them(evaluated: tuple[dict, str]) -> None:
    board, printed = evaluated

    assert board["input_rows"] == {
        # 12 customers x 4 invoices of 3 products, plus a fourth product in every other invoice.
        "rows_used": 12 * 4 * 3 + 12 * 2,
        "dropped": 6,
        "skipped": {"cancellation": 1, "no customer": 1, "non-product code": 1},
        "rejected": {
            "Quantity ... is not a whole number": 2,
            "InvoiceDate ... is not YYYY-MM-DD HH:MM:SS": 1,
        },
    }
    assert "dropped: 6" in printed
    assert "2 Quantity ... is not a whole number" in printed and "1 cancellation" in printed


def test_evaluate_writes_json_without_nan_or_infinity(evaluated: tuple[dict, str]) -> None:
    board, printed = evaluated

    # json.loads reads NaN and Infinity back as floats: writing them again strictly proves there are none.
    json.dumps(board, allow_nan=False)
    # The baselines have no validation score: the table leaves the cell empty instead of printing nan.
    assert not re.search(r"\bnan\b", printed, flags=re.IGNORECASE)
    assert finite_json({"a": [float("nan"), np.float32("inf"), np.int64(3)], "b": 0.5}) == {
        "a": [None, None, 3],
        "b": 0.5,
    }


def test_evaluate_gives_every_model_its_interval_against_the_best_single_model_on_test(
    evaluated: tuple[dict, str],
) -> None:
    board, printed = evaluated

    best = board["best_baseline"]["name"]
    rows = {row["name"]: row for row in board["models"]}
    assert best != "hybrid" and board["best_baseline"]["metric"] == "ndcg@10"
    assert rows[best]["metrics"]["ndcg@10"] == max(
        row["metrics"]["ndcg@10"] for name, row in rows.items() if name != "hybrid"
    )
    for name, row in rows.items():
        for metric in ("recall@10", "ndcg@10"):
            gain = row["vs_best_baseline"][metric]
            assert gain["low"] <= gain["mean"] <= gain["high"] and gain["units"] == board["test_baskets"]
            expected = row["metrics"][metric] - rows[best]["metrics"][metric]
            assert gain["mean"] == pytest.approx(expected, abs=2e-4), name
    assert rows[best]["vs_best_baseline"]["ndcg@10"] | {"level": 0} == {
        "mean": 0.0,
        "low": 0.0,
        "high": 0.0,
        "level": 0,
        "units": 12,
        "resamples": 1000,
    }
    assert f"ndcg@10 - {best} [95%]" in printed
    assert "Validation gate, blend: NDCG@10 gain over" in printed
    assert board["selection"]["blend"]["against"] == board["validation_best_single"]
