import gzip
import shutil
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from orders.sources import (
    ColumnMapping,
    RejectedRow,
    SkippedRow,
    SourceError,
    TransactionRow,
    read_transactions,
)

FIXTURES = Path(__file__).parent / "fixtures"
GENERIC_MAPPING = ColumnMapping.parse(
    "customer=Shop,order=Ticket,date=When,product=SKU,description=Item,quantity=Qty,price=Price,category=Section"
)


def _by_type(rows):
    return (
        [row for row in rows if isinstance(row, TransactionRow)],
        [row for row in rows if isinstance(row, SkippedRow)],
        [row for row in rows if isinstance(row, RejectedRow)],
    )


def test_online_retail_applies_the_cleaning_rules_with_physical_line_numbers():
    rows = list(read_transactions(FIXTURES / "online_retail_sample.csv", "online-retail"))
    transactions, skipped, rejected = _by_type(rows)

    assert [row.line_no for row in transactions] == [2, 3, 4, 6, 7, 8, 11]
    assert {row.line_no: row.reason for row in skipped} == {
        5: "non-product code",
        9: "cancellation",
        10: "no customer",
        12: "quantity not positive",
        16: "adjustment",
    }
    assert [row.line_no for row in rejected] == [13, 14, 15]
    assert "Quantity 'three'" in rejected[0].reason
    assert "InvoiceDate" in rejected[1].reason
    assert "expected 8 columns, got 7" in rejected[2].reason
    assert rejected[0].raw.startswith("536421,22745,")


def test_online_retail_normalises_customer_date_and_price():
    first = next(iter(read_transactions(FIXTURES / "online_retail_sample.csv", "online-retail")))

    assert first == TransactionRow(
        line_no=2,
        customer="17850",
        order="536365",
        placed_at=datetime(2010, 12, 1, 8, 26, tzinfo=UTC),
        product="85123A",
        description="WHITE HANGING HEART T-LIGHT HOLDER",
        quantity=6,
        unit_price=Decimal("2.55"),
        category="",
        country="United Kingdom",
    )


def test_it_reads_gzip_by_magic_bytes_whatever_the_name(tmp_path):
    disguised = tmp_path / "export.csv"
    with (FIXTURES / "online_retail_sample.csv").open("rb") as source, gzip.open(disguised, "wb") as target:
        shutil.copyfileobj(source, target)

    plain = list(read_transactions(FIXTURES / "online_retail_sample.csv", "online-retail"))
    assert list(read_transactions(disguised, "online-retail")) == plain


def test_it_rejects_a_file_with_the_wrong_header(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("a,b,c\n1,2,3\n")

    with pytest.raises(SourceError, match="expected the Online Retail header"):
        list(read_transactions(path, "online-retail"))


def test_instacart_synthesises_dates_from_cumulative_days_and_hour():
    rows = list(read_transactions(FIXTURES / "instacart", "instacart"))
    transactions, _skipped, rejected = _by_type(rows)

    placed = {row.order: row.placed_at for row in transactions}
    assert placed["2539329"] == datetime(2017, 1, 1, 8, tzinfo=UTC)
    assert placed["2398795"] == datetime(2017, 1, 16, 7, tzinfo=UTC)
    assert placed["473747"] == datetime(2017, 2, 6, 12, tzinfo=UTC)
    assert placed["1187899"] == datetime(2017, 2, 20, 8, tzinfo=UTC)
    assert placed["1501582"] == datetime(2017, 1, 11, 10, tzinfo=UTC)
    assert len(transactions) == 11
    cola = next(row for row in transactions if row.product == "46149")
    assert (cola.description, cola.category, cola.customer) == (
        "Zero Calorie Cola, 12 Pack",
        "snacks / nuts seeds dried fruit",
        "2",
    )
    assert [(row.line_no, row.reason) for row in rejected] == [
        (11, "order_products__prior.csv: unknown product_id '99999'"),
        (12, "order_products__prior.csv: unknown order_id '9999999'"),
    ]


def test_instacart_reports_a_missing_file(tmp_path):
    for name in ("orders.csv", "products.csv", "aisles.csv", "order_products__prior.csv"):
        shutil.copy(FIXTURES / "instacart" / name, tmp_path / name)

    with pytest.raises(SourceError, match=r"missing departments\.csv"):
        list(read_transactions(tmp_path, "instacart"))


def test_generic_csv_reads_mapped_columns_and_common_date_formats():
    rows = list(read_transactions(FIXTURES / "generic_transactions.csv", "csv", mapping=GENERIC_MAPPING))
    transactions, skipped, rejected = _by_type(rows)

    assert skipped == []
    assert [row.placed_at for row in transactions] == [
        datetime(2024, 3, 1, 9, 30, tzinfo=UTC),
        datetime(2024, 3, 1, 9, 30, tzinfo=UTC),
        datetime(2024, 3, 15, tzinfo=UTC),
        datetime(2024, 3, 2, 13, tzinfo=UTC),
    ]
    assert transactions[0].category == "Drinks / Coffee"
    assert transactions[0].unit_price == Decimal("12.50")
    assert [(row.line_no, row.reason) for row in rejected] == [
        (6, "date 'yesterday' is neither ISO 8601 nor DD/MM/YYYY [HH:MM[:SS]]"),
        (7, "empty product"),
    ]


def test_generic_csv_without_order_column_groups_a_customers_day(tmp_path):
    path = tmp_path / "sales.csv"
    path.write_text("cust,day,sku\nX,2024-01-05 09:00,A\nX,2024-01-05 17:00,B\nX,2024-01-06,A\n")

    rows = list(
        read_transactions(path, "csv", mapping=ColumnMapping.parse("customer=cust,date=day,product=sku"))
    )

    assert [(row.order, row.quantity, row.unit_price) for row in rows] == [
        ("X@2024-01-05", 1, None),
        ("X@2024-01-05", 1, None),
        ("X@2024-01-06", 1, None),
    ]


def test_a_mapping_naming_absent_columns_is_refused():
    mapping = ColumnMapping.parse("customer=Customer,date=When,product=SKU")

    with pytest.raises(SourceError, match="columns Customer not in header"):
        list(read_transactions(FIXTURES / "generic_transactions.csv", "csv", mapping=mapping))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("customer=A,date=B", "mapping needs product"),
        ("customer=A,date=B,product=C,colour=D", "unknown mapping field"),
    ],
)
def test_a_bad_mapping_spec_is_refused(spec, message):
    with pytest.raises(SourceError, match=message):
        ColumnMapping.parse(spec)
