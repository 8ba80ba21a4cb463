"""Inputs the database would refuse, broken files and failed imports: reported by line, never a traceback."""

import gzip
import io
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.models import Retailer
from catalog.models import Category, Product
from orders.models import ImportRun, Order, OrderLine

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parent / "fixtures"
HEADER = "Shop,Ticket,When,SKU,Item,Qty,Price,Section\n"
MAPPING = (
    "customer=Shop,order=Ticket,date=When,product=SKU,"
    "description=Item,quantity=Qty,price=Price,category=Section"
)
GOOD_FIRST = "Shop A,T1,2024-03-01 09:30,COF-1,Ground Coffee 1kg,2,12.50,Drinks / Coffee\n"
GOOD_LAST = "Shop B,T3,2024-03-02 10:00,MLK-2,Oat Milk 1L,6,1.80,Fresh / Dairy\n"


def _import(path: Path, *extra: str, fmt: str = "csv") -> tuple[str, str]:
    """Run the command as a user would and return what it printed; it must never print a traceback."""
    stdout, stderr = io.StringIO(), io.StringIO()
    mapping = ["--map", MAPPING] if fmt == "csv" else []
    try:
        call_command(
            "import_transactions",
            str(path),
            "--format",
            fmt,
            *mapping,
            "--no-progress",
            *extra,
            stdout=stdout,
            stderr=stderr,
        )
    finally:
        assert "Traceback" not in stdout.getvalue() + stderr.getvalue()
    return stdout.getvalue(), stderr.getvalue()


def _between_good_rows(tmp_path: Path, *bad_lines: str) -> Path:
    """A file whose line 2 and last line are good and whose lines 3... are the bad ones."""
    path = tmp_path / "sales.csv"
    path.write_text(HEADER + GOOD_FIRST + "".join(bad_lines) + GOOD_LAST, encoding="utf-8")
    return path


def _imported_skus() -> list[str]:
    return sorted(OrderLine.objects.values_list("product__sku", flat=True))


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        (
            "Shop A,T2,2024-03-01,COF-1,Coffee,100000000000000000000,1.00,\n",
            "quantity 100000000000000000000 is above the largest quantity stored (2147483647)",
        ),
        (
            "Shop A,T2,2024-03-01,COF-1,Coffee,2147483648,1.00,\n",
            "quantity 2147483648 is above the largest quantity stored (2147483647)",
        ),
        (
            "Shop A,T2,2024-03-01,COF-1,Coffee,1,1e30,\n",
            "price 1E+30 is above the largest price stored (99999999.99)",
        ),
        (
            "Shop A,T2,2024-03-01,COF-1,Coffee,1,99999999.995,\n",
            "price 99999999.995 is above the largest price stored (99999999.99)",
        ),
        ("Shop A,T2,2024-03-01,COF-1,Coffee,NaN,1.00,\n", "quantity 'NaN' is not a finite number"),
        ("Shop A,T2,2024-03-01,COF-1,Coffee,inf,1.00,\n", "quantity 'inf' is not a finite number"),
        ("Shop A,T2,2024-03-01,COF-1,Coffee,1,NaN,\n", "price 'NaN' is negative or not finite"),
        ("Shop A,T2,2024-03-01,COF-1,Coffee,1,-Infinity,\n", "price '-Infinity' is negative or not finite"),
        ("Shop A,T2,2024-03-01,COF-1,Coffee \x00 Beans,1,1.00,\n", "NUL byte in column 5 (Item)"),
        ("Shop\x00A,T2,2024-03-01,COF-1,Coffee,1,1.00,\n", "NUL byte in column 1 (Shop)"),
        (
            f"Shop A,T2,2024-03-01,{'S' * 65},Coffee,1,1.00,\n",
            f"product '{'S' * 30}'... has 65 characters, more than the 64 stored",
        ),
        (
            f"{'C' * 61},T2,2024-03-01,COF-1,Coffee,1,1.00,\n",
            f"customer '{'C' * 30}'... has 61 characters, more than the 60 stored",
        ),
        (
            f"Shop A,{'T' * 65},2024-03-01,COF-1,Coffee,1,1.00,\n",
            f"order '{'T' * 30}'... has 65 characters, more than the 64 stored",
        ),
        (
            f"Shop A,T2,2024-03-01,COF-1,Coffee,1,1.00,Drinks / {'A' * 121}\n",
            f"category '{'A' * 30}'... has 121 characters, more than the 120 stored",
        ),
        (
            "Shop A,T2,0001-01-01T00:00+01:00,COF-1,Coffee,1,1.00,\n",
            "date '0001-01-01T00:00+01:00' is out of range in UTC",
        ),
    ],
)
def test_a_value_the_database_would_refuse_is_a_rejected_row_and_the_rest_is_imported(
    tmp_path, bad_line, reason
):
    path = _between_good_rows(tmp_path, bad_line)

    _stdout, stderr = _import(path)

    assert f"line 3: {reason}" in stderr
    assert _imported_skus() == ["COF-1", "MLK-2"]
    run = ImportRun.objects.get()
    assert run.status == ImportRun.Status.SUCCEEDED
    assert [(row["line_no"], row["reason"]) for row in run.rejected_rows] == [(3, reason)]


def test_a_nul_byte_is_reported_escaped_and_stored_in_the_import_run(tmp_path):
    rejects = tmp_path / "rejects.tsv"
    path = _between_good_rows(tmp_path, "Shop A,T2,2024-03-01,COF-1,Cof\x00fee,1,1.00,\n")

    _import(path, "--rejects", str(rejects))

    run = ImportRun.objects.get()
    assert run.rejected_rows[0]["raw"] == "Shop A,T2,2024-03-01,COF-1,Cof\\x00fee,1,1.00,"
    assert rejects.read_text().split("\t")[:2] == ["3", "NUL byte in column 5 (Item)"]
    assert _imported_skus() == ["COF-1", "MLK-2"]


def test_the_longest_values_the_database_stores_are_imported(tmp_path):
    customer, order, sku, category = "C" * 60, "T" * 64, "S" * 64, "A" * 120
    long_name = "N" * 300  # the product's name is cut to its 255 characters, its description keeps it whole
    path = _between_good_rows(
        tmp_path,
        f"{customer},{order},2024-03-01,{sku},{long_name},2147483647,99999999.99,{category} / {category}\n",
    )

    _stdout, stderr = _import(path)

    assert "rejected" not in stderr
    product = Product.objects.get(sku=sku)
    assert (product.name, product.description, product.unit_price) == (
        "N" * 255,
        long_name,
        Decimal("99999999.99"),
    )
    assert str(product.category) == f"{category} / {category}"
    line = OrderLine.objects.get(product=product)
    assert (line.quantity, line.order.external_ref, line.order.retailer.external_ref) == (
        2147483647,
        order,
        f"csv:{customer}",
    )


def test_quantities_that_overflow_only_once_summed_are_rejected_with_their_lines(tmp_path):
    path = _between_good_rows(
        tmp_path,
        "Shop A,T2,2024-03-01,COF-1,Coffee,2000000000,1.00,\n",
        "Shop A,T2,2024-03-01,COF-1,Coffee,2000000000,1.00,\n",
    )

    _stdout, stderr = _import(path)

    reason = (
        "the quantities of product 'COF-1' in order 'T2' add up to 4000000000, above the largest quantity"
    )
    assert f"line 3: {reason}" in stderr
    assert f"line 4: {reason}" in stderr
    assert _imported_skus() == ["COF-1", "MLK-2"]
    assert not Order.objects.filter(external_ref="T2").exists()


@pytest.mark.parametrize(
    ("middle", "rejected_line"),
    [
        # The quote opened on line 3 would otherwise swallow line 4 into a product name.
        ('Shop A,T2,2024-03-01,COF-1,"Coffee, ground,1,1.00,\n', 3),
        ('Shop A,T2,2024-03-01,COF-1,"Coffee" ground,1,1.00,\n', 3),
    ],
)
def test_a_quote_left_open_is_a_rejected_row_and_the_next_line_is_read_on_its_own(
    tmp_path, middle, rejected_line
):
    path = _between_good_rows(tmp_path, middle, "Shop A,T9,2024-03-01,TEA-3,Green Tea,1,3.00,\n")

    _stdout, stderr = _import(path)

    assert f"line {rejected_line}: " in stderr
    assert _imported_skus() == ["COF-1", "MLK-2", "TEA-3"]
    assert Product.objects.get(sku="TEA-3").name == "Green Tea"
    reasons = [row["reason"] for row in ImportRun.objects.get().rejected_rows]
    assert len(reasons) == 1
    assert "unterminated quote" in reasons[0] or "malformed quoting" in reasons[0]


def test_a_quote_left_open_on_the_last_line_is_a_rejected_row(tmp_path):
    path = tmp_path / "sales.csv"
    path.write_text(HEADER + GOOD_FIRST + 'Shop A,T2,2024-03-01,COF-1,"Coffee,1,1.00,')

    _stdout, stderr = _import(path)

    assert "line 3: unterminated quote: a quoted field must close on its own line" in stderr
    assert _imported_skus() == ["COF-1"]


def test_a_latin_1_byte_is_refused_naming_its_line_and_recorded_as_a_failed_run(tmp_path):
    path = tmp_path / "sales.csv"
    path.write_bytes(
        (HEADER + GOOD_FIRST).encode() + "Shop A,T2,2024-03-01,CAF-1,Café,1,2.00,\n".encode("latin-1")
    )

    with pytest.raises(CommandError) as refused:
        _import(path)

    message = str(refused.value)
    assert "line 3 is not valid utf-8: byte 0xe9 at character 31" in message
    assert "--encoding latin-1" in message
    assert not OrderLine.objects.exists()  # line 2 was good, but the import is all or nothing
    run = ImportRun.objects.get()
    assert run.status == ImportRun.Status.FAILED
    assert "line 3 is not valid utf-8" in run.error
    assert f"recorded as failed import run #{run.pk}." in message


def test_a_latin_1_file_is_imported_with_its_encoding_named(tmp_path):
    path = tmp_path / "sales.csv"
    path.write_bytes(
        (HEADER + GOOD_FIRST + "Shop A,T2,2024-03-01,CAF-1,Café crème,1,2.00,\n").encode("latin-1")
    )

    _import(path, "--encoding", "latin-1")

    assert Product.objects.get(sku="CAF-1").name == "Café crème"


@pytest.mark.parametrize("encoding", ["no-such-codec", "utf-16"])
def test_an_unusable_encoding_is_refused_clearly(tmp_path, encoding):
    path = _between_good_rows(tmp_path)

    with pytest.raises(CommandError, match=f"Nothing imported: .*encoding '{encoding}'"):
        _import(path, "--encoding", encoding)

    assert ImportRun.objects.get().status == ImportRun.Status.FAILED


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("empty.csv", b""),
        ("empty.csv.gz", gzip.compress(b"")),
        ("blank.csv", b"  \n\n \r\n"),
    ],
)
def test_an_empty_file_is_said_to_be_empty(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)

    with pytest.raises(CommandError, match=r"Nothing imported: .* is empty: no header and no data"):
        _import(path, fmt="online-retail")

    run = ImportRun.objects.get()
    assert (run.status, run.source, run.vendor) == (ImportRun.Status.FAILED, "online-retail", None)
    assert "is empty" in run.error


def test_a_truncated_gzip_is_a_clear_error(tmp_path):
    path = tmp_path / "sales.csv.gz"
    path.write_bytes(gzip.compress((HEADER + GOOD_FIRST * 50).encode())[:-30])

    with pytest.raises(CommandError, match="cannot be read after line"):
        _import(path)

    assert not OrderLine.objects.exists()


def test_a_database_failure_midway_rolls_back_and_is_recorded_as_a_failed_run(tmp_path):
    call_command(
        "import_transactions",
        str(FIXTURES / "online_retail_sample.csv"),
        "--format",
        "online-retail",
        "--no-progress",
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )
    before = (
        sorted(Retailer.objects.values_list("external_ref", flat=True)),
        sorted(Product.objects.values_list("sku", flat=True)),
        sorted(Category.objects.values_list("name", flat=True)),
        sorted(Order.objects.values_list("external_ref", flat=True)),
        OrderLine.objects.count(),
    )
    # A failure no reader can foresee, raised by the database after retailers, products and orders were
    # inserted: a trigger on the last table the import fills (dropped with the test's transaction).
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION pg_temp.refuse_line() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'disk full (simulated)'; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER refuse_line BEFORE INSERT ON orders_orderline "
            "FOR EACH ROW EXECUTE FUNCTION pg_temp.refuse_line()"
        )
    path = _between_good_rows(tmp_path, "Shop A,T2,2024-03-01,COF-1,Coffee,1,1e30,\n")

    with pytest.raises(CommandError) as refused:
        _import(path, "--vendor", "Acme Coffee")

    assert "Nothing imported: the database refused the data: disk full (simulated)" in str(refused.value)
    after = (
        sorted(Retailer.objects.values_list("external_ref", flat=True)),
        sorted(Product.objects.values_list("sku", flat=True)),
        sorted(Category.objects.values_list("name", flat=True)),
        sorted(Order.objects.values_list("external_ref", flat=True)),
        OrderLine.objects.count(),
    )
    assert after == before
    failed = ImportRun.objects.get(status=ImportRun.Status.FAILED)
    assert failed.vendor is None  # "Acme Coffee" was created by the rolled-back import
    assert "disk full (simulated)" in failed.error
    assert (failed.counts["rows_read"], failed.counts["rejected_total"]) == (3, 1)
    assert [row["line_no"] for row in failed.rejected_rows] == [3]
    assert len(failed.sha256) == 64
    assert ImportRun.objects.filter(status=ImportRun.Status.SUCCEEDED).count() == 1


def _float_and_integer_customer_files(tmp_path: Path) -> tuple[Path, Path]:
    """The same two sales as Online Retail and as a generic CSV, the ids written `17850.0` and `17850`."""
    retail = tmp_path / "retail.csv"
    retail.write_text(
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        "536365,85123A,HEART,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom\n"
        "536366.0,85123A,HEART,6,2010-12-02 08:26:00,2.55,17850,United Kingdom\n"
    )
    generic = tmp_path / "generic.csv"
    generic.write_text(
        HEADER
        + "17850,536365,2010-12-01 08:26,85123A,HEART,6,2.55,\n"
        + "17850.0,536366.0,2010-12-02 08:26,85123A,HEART,6,2.55,\n"
    )
    return retail, generic


def test_a_customer_written_as_a_float_is_one_retailer_in_every_reader(tmp_path):
    retail, generic = _float_and_integer_customer_files(tmp_path)

    _import(retail, fmt="online-retail")
    _import(generic)

    # Each format keeps its own key namespace: one retailer per format, not one per spelling.
    assert sorted(Retailer.objects.values_list("external_ref", flat=True)) == [
        "csv:17850",
        "online-retail:17850",
    ]
    for source in ("online-retail", "csv"):
        assert sorted(Order.objects.filter(source=source).values_list("external_ref", flat=True)) == [
            "536365",
            "536366",
        ]


def test_the_same_data_through_both_readers_is_one_retailer_with_a_shared_source(tmp_path):
    retail, generic = _float_and_integer_customer_files(tmp_path)
    _import(retail, fmt="online-retail")

    stdout, _stderr = _import(generic, "--source", "online-retail", "--vendor", "Online Retail (UK)")

    assert f"{'retailers created':<32}{0:>10}" in stdout
    assert f"{'order lines created':<32}{0:>10}" in stdout
    assert list(Retailer.objects.values_list("external_ref", flat=True)) == ["online-retail:17850"]
    assert Order.objects.count() == 2
    assert OrderLine.objects.count() == 2
    assert list(ImportRun.objects.order_by("id").values_list("source", flat=True)) == [
        "online-retail",
        "online-retail",
    ]


def test_a_source_that_would_make_keys_ambiguous_is_refused(tmp_path):
    with pytest.raises(CommandError, match="source 'shop:a' is not 1 to 20 lower-case letters"):
        _import(_between_good_rows(tmp_path), "--source", "shop:a")

    assert not OrderLine.objects.exists()
