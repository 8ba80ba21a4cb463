import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from catalog.tests.factories import ProductFactory
from orders.models import Order
from orders.tests.factories import OrderFactory, OrderLineFactory
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
