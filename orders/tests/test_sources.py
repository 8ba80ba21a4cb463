import gzip
import shutil
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from orders.sources import (
    ColumnMapping,
    FieldLimits,
    RejectedRow,
    SkippedRow,
    SourceError,
    TransactionRow,
    normalise_key,
    read_transactions,
)

FIXTURES = Path(__file__).parent / "fixtures"
GENERIC_MAPPING = ColumnMapping.parse(
    "customer=Shop,order=Ticket,date=When,product=SKU,description=Item,quantity=Qty,price=Price,category=Section"
)
RETAIL_HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
RETAIL_LINE = "536365,85123A,HEART,6,2010-12-01 08:26:00,2.55,17850,United Kingdom\n"
SMALL_LIMITS = FieldLimits(
    customer=5, order=8, product=8, category=6, country=14, quantity=100, price_digits=4, price_places=2
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


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("17850.0", "17850"),
        (" 17850.00 ", "17850"),
        ("17850", "17850"),
        ("0042", "0042"),
        ("17850.5", "17850.5"),
        ("C536379", "C536379"),
        ("Shop A", "Shop A"),
    ],
)
def test_normalise_key_writes_integer_ids_one_way(raw, key):
    assert normalise_key(raw) == key


def test_every_reader_normalises_customer_and_order_keys_the_same_way(tmp_path):
    retail = tmp_path / "retail.csv"
    retail.write_text(
        RETAIL_HEADER
        + "536365.0,85123A,HEART,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom\n"
        + RETAIL_LINE
    )
    generic = tmp_path / "generic.csv"
    generic.write_text("cust,ticket,day,sku\n17850.0,536365.0,2024-01-05,A\n17850,536365,2024-01-05,A\n")
    mapping = ColumnMapping.parse("customer=cust,order=ticket,date=day,product=sku")

    keys = {
        (row.customer, row.order)
        for rows in (
            read_transactions(retail, "online-retail"),
            read_transactions(generic, "csv", mapping=mapping),
        )
        for row in rows
    }

    assert keys == {("17850", "536365")}


def test_instacart_normalises_user_and_order_ids(tmp_path):
    for path in (FIXTURES / "instacart").iterdir():
        shutil.copy(path, tmp_path / path.name)
    orders = tmp_path / "orders.csv"
    orders.write_text(orders.read_text().replace("2539329,1,", "2539329.0,1.0,"))
    prior = tmp_path / "order_products__prior.csv"
    prior.write_text(prior.read_text().replace("2539329,196,", "2539329.0,196,"))

    rows = list(read_transactions(tmp_path, "instacart"))

    assert list(read_transactions(FIXTURES / "instacart", "instacart")) == rows


def test_an_unterminated_quote_is_rejected_and_does_not_swallow_the_next_lines(tmp_path):
    path = tmp_path / "retail.csv"
    path.write_text(
        RETAIL_HEADER
        + RETAIL_LINE
        + '536366,22633,"HAND WARMER,6,2010-12-01 08:28:00,1.85,17850,United Kingdom\n'
        + RETAIL_LINE.replace("536365", "536367")
        + '536368,22633,"HAND WARMER'
    )

    transactions, _skipped, rejected = _by_type(list(read_transactions(path, "online-retail")))

    assert [row.line_no for row in transactions] == [2, 4]
    assert [(row.line_no, row.reason) for row in rejected] == [
        (3, "unterminated quote: a quoted field must close on its own line"),
        (5, "unterminated quote: a quoted field must close on its own line"),
    ]
    assert rejected[0].raw.startswith('536366,22633,"HAND WARMER,6,')


def test_a_quoted_field_with_commas_and_doubled_quotes_is_still_read(tmp_path):
    path = tmp_path / "retail.csv"
    path.write_text(RETAIL_HEADER + '536365,85123A,"HEART, ""RED""",6,2010-12-01 08:26:00,2.55,17850,UK\r\n')

    (row,) = read_transactions(path, "online-retail")

    assert (row.description, row.country) == ('HEART, "RED"', "UK")


def test_a_nul_byte_rejects_its_line_naming_the_column(tmp_path):
    path = tmp_path / "retail.csv"
    path.write_text(RETAIL_HEADER + RETAIL_LINE.replace("HEART", "HE\x00ART") + RETAIL_LINE)

    transactions, _skipped, rejected = _by_type(list(read_transactions(path, "online-retail")))

    assert [row.line_no for row in transactions] == [3]
    assert [(row.line_no, row.reason) for row in rejected] == [(2, "NUL byte in column 3 (Description)")]
    assert "\x00" not in rejected[0].raw
    assert "HE\\x00ART" in rejected[0].raw


def test_a_byte_the_encoding_cannot_read_names_its_line(tmp_path):
    path = tmp_path / "retail.csv"
    path.write_bytes(
        (RETAIL_HEADER + RETAIL_LINE).encode() + RETAIL_LINE.replace("HEART", "CŒUR").encode("cp1252")
    )

    with pytest.raises(SourceError, match=r"line 3 is not valid utf-8: byte 0x8c at character 16"):
        list(read_transactions(path, "online-retail"))

    rows = list(read_transactions(path, "online-retail", encoding="cp1252"))
    assert rows[1].description == "CŒUR"


def test_a_utf8_byte_order_mark_is_dropped(tmp_path):
    path = tmp_path / "retail.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (RETAIL_HEADER + RETAIL_LINE).encode())

    assert [row.line_no for row in read_transactions(path, "online-retail")] == [2]


@pytest.mark.parametrize("content", [b"", gzip.compress(b""), b"\n \n\t\r\n"])
@pytest.mark.parametrize("fmt", ["online-retail", "csv"])
def test_an_empty_file_is_said_to_be_empty(tmp_path, content, fmt):
    path = tmp_path / "empty.csv"
    path.write_bytes(content)

    with pytest.raises(SourceError, match="is empty: no header and no data"):
        list(read_transactions(path, fmt, mapping=ColumnMapping.parse("customer=a,date=b,product=c")))


def test_a_header_alone_is_not_empty_but_has_no_rows(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text(RETAIL_HEADER)

    assert list(read_transactions(path, "online-retail")) == []


def test_rows_beyond_the_limits_are_rejected_with_the_reason(tmp_path):
    path = tmp_path / "retail.csv"
    path.write_text(
        RETAIL_HEADER
        + "1,85123A,HEART,6,2010-12-01 08:26:00,2.55,12345,United Kingdom\n"
        + "2,85123A,HEART,6,2010-12-01 08:26:00,2.55,123456,United Kingdom\n"
        + "3,85123A,HEART,101,2010-12-01 08:26:00,2.55,12345,United Kingdom\n"
        + "4,85123A,HEART,6,2010-12-01 08:26:00,99.995,12345,United Kingdom\n"
        + "5,85123A,HEART,6,2010-12-01 08:26:00,99.994,12345,United Kingdom\n"
        + "123456789,85123A,HEART,6,2010-12-01 08:26:00,2.55,12345,United Kingdom\n"
        + "7,85123AAAA,HEART,6,2010-12-01 08:26:00,2.55,12345,United Kingdom\n"
        + "8,85123A,HEART,6,2010-12-01 08:26:00,2.55,12345,United Kingdom!\n"
    )

    transactions, _skipped, rejected = _by_type(
        list(read_transactions(path, "online-retail", limits=SMALL_LIMITS))
    )

    assert [row.line_no for row in transactions] == [2, 6]
    assert [(row.line_no, row.reason) for row in rejected] == [
        (3, "customer '123456' has 6 characters, more than the 5 stored"),
        (4, "quantity 101 is above the largest quantity stored (100)"),
        (5, "price 99.995 is above the largest price stored (99.99)"),
        (7, "order '123456789' has 9 characters, more than the 8 stored"),
        (8, "product '85123AAAA' has 9 characters, more than the 8 stored"),
        (9, "country 'United Kingdom!' has 15 characters, more than the 14 stored"),
    ]
    assert len(list(read_transactions(path, "online-retail"))) == 8  # without limits nothing is rejected


def test_generic_csv_rejects_a_category_level_beyond_the_limit(tmp_path):
    path = tmp_path / "sales.csv"
    path.write_text("c,o,d,p,cat\nX,1,2024-01-05,A,Drinks / Coffee\nX,1,2024-01-05,B,Drinks / Coffees\n")
    mapping = ColumnMapping.parse("customer=c,order=o,date=d,product=p,category=cat")

    rows = list(read_transactions(path, "csv", mapping=mapping, limits=SMALL_LIMITS))

    assert isinstance(rows[0], TransactionRow)
    assert (rows[1].line_no, rows[1].reason) == (
        3,
        "category 'Coffees' has 7 characters, more than the 6 stored",
    )


def test_instacart_rejects_impossible_order_times_with_their_lines(tmp_path):
    for path in (FIXTURES / "instacart").iterdir():
        shutil.copy(path, tmp_path / path.name)
    orders = tmp_path / "orders.csv"
    lines = orders.read_text().splitlines(keepends=True)
    lines[2] = lines[2].replace(",07,15.0", ",07,inf")
    lines[3] = lines[3].replace(",12,21.0", ",99,21.0")
    lines[4] = lines[4].replace(",08,14.0", ",08,1e9")
    orders.write_text("".join(lines))

    _transactions, _skipped, rejected = _by_type(list(read_transactions(tmp_path, "instacart")))

    assert [(row.line_no, row.reason) for row in rejected][:3] == [
        (3, "orders.csv: days_since_prior_order inf is not a positive number of days"),
        (4, "orders.csv: order_hour_of_day 99 is not between 0 and 23"),
        (5, "orders.csv: days_since_prior_order: the user's orders would run past the year 9999"),
    ]
