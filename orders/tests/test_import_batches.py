"""The PostgreSQL fast path of the Online Retail import: the batch reader, the rebuilt line indexes."""

import io
from collections import Counter
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from orders.importing import bulk
from orders.importing.online_retail import online_retail_batches
from orders.imports import ImportFailed, field_limits, transactions_import
from orders.models import ImportRun, Order, OrderLine
from orders.sources import RejectedRow, SkippedRow, TransactionRow, read_transactions

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parent / "fixtures"
HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
# Every kind of line the reference reader tells apart, plain ones between them.
LINES = [
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom\n",
    "536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom\n",
    "536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom\n",
    '536367,22745,"POPPY\'S PLAYHOUSE, BEDROOM",6,2010-12-01 08:34:00,2.10,13047.0,United Kingdom\n',
    "536367,22748, POPPY'S PLAYHOUSE KITCHEN ,6 , 2010-12-01 08:34:00 ,2.1, 13047 , United Kingdom \n",
    "536365,POST,POSTAGE,1,2010-12-01 08:26:00,18.00,17850.0,United Kingdom\n",
    "C536379,22633,HAND WARMER UNION JACK,-1,2010-12-01 09:41:00,1.85,17850.0,United Kingdom\n",
    "A563185,B,Adjust bad debt,1,2011-08-12 14:50:00,-11062.06,,United Kingdom\n",
    "536414,22139,,56,2010-12-01 11:52:00,0,,United Kingdom\n",
    "536420,84879,ASSORTED COLOUR BIRD ORNAMENT,0,2010-12-02 10:03:00,1.69,12583.0,France\n",
    "536420,84879,ASSORTED COLOUR BIRD ORNAMENT,-3,02/12/2010 10:03,1.69,12583.0,France\n",
    "536421,22745,POPPY'S PLAYHOUSE BEDROOM,three,2010-12-02 10:05:00,2.10,12583.0,France\n",
    "536422,22745,POPPY'S PLAYHOUSE BEDROOM,2,02/12/2010 10:05,2.10,12583.0,France\n",
    "536423,22745,POPPY'S PLAYHOUSE BEDROOM,2,2010-12-02 10:05:00,2.10,12583.0\n",
    "536424,22745,POPPY'S PLAYHOUSE BEDROOM,2,2010-12-02 10:05:00,-2.10,12583.0,France\n",
    "536425,22745,POPPY'S PLAYHOUSE BEDROOM,2,2010-12-02 10:05:00,1e30,12583.0,France\n",
    "536426,22745,POPPY'S PLAYHOUSE BEDROOM,2147483648,2010-12-02 10:05:00,2.10,12583.0,France\n",
    "536427,22745,POPPY'S PLAYHOUSE BEDROOM,3.0,2010-12-02 10:05:00,2.10,12583.0,France\n",
    f"536428,22745,POPPY'S PLAYHOUSE BEDROOM,2,2010-12-02 10:05:00,2.10,{'9' * 61},France\n",
    ",22745,POPPY'S PLAYHOUSE BEDROOM,2,2010-12-02 10:05:00,2.10,12583.0,France\n",
    "536429,22745,\"POPPY'S PLAYHOUSE,2,2010-12-02 10:05:00,2.10,12583.0,France\n",
    "536430,22745,POPPY'S\tPLAYHOUSE,2,2010-12-02 10:05:00,2.10,12583.0,France\n",
    "536431,22745,POPPY'S \\ PLAYHOUSE,2,2010-12-02 10:05:00,2.10,12583.0,France\n",
    "536432,22745,POPPY'S\x00PLAYHOUSE,2,2010-12-02 10:05:00,2.10,12583.0,France\n",
    "536433,22745,CAFÉ CRÈME SET,2,2010-12-02 10:05:00,2.10,12583.0,France\r\n",
    "536434,22745,POPPY'S\rPLAYHOUSE,2,2010-12-02 10:05:00,2.10,12583.0,France\n",
    "\n",
    "536435.0,DCGS0070,CAMOUFLAGE DOG COLLAR,1,2011-04-01 10:00:00,12.5,12583.0,France\n",
    "536436,22745,POPPY'S PLAYHOUSE BEDROOM,2,2010-12-02T10:05:00+01:00,2.10,12583.0,France\n",
    "536437,22745,POPPY'S PLAYHOUSE BEDROOM,2,2010-12-02 10:05:00,2.10,12583.0,France",
]


def _reference(path: Path) -> tuple[list[tuple[str, ...]], Counter[str], list[RejectedRow]]:
    """What the per-line reader makes of the file, in the batch reader's terms."""
    staged, skipped, rejected = [], Counter(), []
    rows = read_transactions(path, "online-retail", limits=field_limits(source="online-retail"))
    for row in rows:
        if isinstance(row, TransactionRow):
            staged.append(
                (
                    str(row.line_no),
                    row.customer,
                    row.order,
                    row.placed_at.isoformat(),
                    row.product,
                    row.description,
                    str(row.quantity),
                    str(row.unit_price),
                    "",
                    "",
                    row.country,
                )
            )
        elif isinstance(row, SkippedRow):
            skipped[row.reason] += 1
        else:
            rejected.append(row)
    return sorted(staged), skipped, rejected


def _batched(
    path: Path, batch_characters: int
) -> tuple[list[tuple[str, ...]], Counter[str], list[RejectedRow]]:
    staged, skipped, rejected, lines = [], Counter(), [], 0
    batches = online_retail_batches(
        path,
        encoding="utf-8",
        limits=field_limits(source="online-retail"),
        batch_characters=batch_characters,
    )
    for batch in batches:
        lines += batch.lines
        skipped += batch.skipped
        rejected += batch.rejected
        copied = [
            tuple(_unescape(value) for value in line.split("\t")) for line in batch.copy_text.splitlines()
        ]
        assert batch.staged == len(copied)
        staged += copied
    # Line 1 is the header; every other line is staged, skipped or rejected exactly once.
    assert lines == len(staged) + sum(skipped.values()) + len(rejected)
    return sorted(staged), skipped, rejected


def _unescape(value: str) -> str:
    return value.replace("\\t", "\t").replace("\\r", "\r").replace("\\n", "\n").replace("\\\\", "\\")


@pytest.mark.parametrize("batch_characters", [1, 200, 1 << 20])
def test_the_batch_reader_decides_every_line_as_the_reference_reader_does(tmp_path, batch_characters):
    path = tmp_path / "retail.csv"
    path.write_bytes((HEADER + "".join(LINES)).encode())

    batched = _batched(path, batch_characters)

    assert batched == _reference(path)
    staged, skipped, rejected = batched
    assert (len(staged), len(rejected)) == (13, 12)
    assert set(skipped) == {
        "cancellation",
        "adjustment",
        "no customer",
        "non-product code",
        "quantity not positive",
    }


def test_the_batch_reader_reads_a_windows_file_as_the_reference_does(tmp_path):
    path = tmp_path / "retail.csv"
    path.write_bytes((HEADER + "".join(LINES)).replace("\n", "\r\n").encode())

    assert _batched(path, 1 << 20) == _reference(path)


def test_the_batch_reader_agrees_on_the_sample_file_gzipped_or_not(tmp_path):
    import gzip

    plain = FIXTURES / "online_retail_sample.csv"
    gzipped = tmp_path / "sample.csv.gz"
    gzipped.write_bytes(gzip.compress(plain.read_bytes()))

    assert _batched(plain, 1 << 20) == _reference(plain)
    assert _batched(gzipped, 64) == _reference(plain)


def test_the_batch_reader_refuses_an_undecodable_line_as_the_reference_does(tmp_path):
    path = tmp_path / "retail.csv"
    path.write_bytes((HEADER + LINES[0]).encode() + LINES[1].replace("WHITE", "WHIT\xc9").encode("latin-1"))

    with pytest.raises(ImportFailed, match="line 3 is not valid utf-8: byte 0xc9 at character 18"):
        transactions_import(path=path, fmt="online-retail")

    assert not OrderLine.objects.exists()


def _orderline_structures() -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'orders_orderline' "
            "UNION ALL SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'orders_orderline'::regclass ORDER BY 1, 2"
        )
        return cursor.fetchall()


@pytest.fixture
def bulk_from_one_line(monkeypatch):
    """The fixture files are tiny: let them count as a large load, into a table known to be empty."""
    monkeypatch.setattr(bulk, "BULK_MIN_LINES", 1)
    # The planner's row count outlives the transactions of earlier tests (ANALYZE writes it in place).
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE orders_orderline")


def test_a_first_import_rebuilds_the_order_line_indexes_and_keys_as_they_were(bulk_from_one_line):
    before = _orderline_structures()

    report = transactions_import(path=FIXTURES / "online_retail_sample.csv", fmt="online-retail")

    assert report.bulk_load
    assert report.lines_created == OrderLine.objects.count() == 6
    assert _orderline_structures() == before
    with connection.cursor() as cursor:
        # Validated foreign keys, still checked at commit like every other of Django's.
        cursor.execute(
            "SELECT bool_and(convalidated AND condeferred) FROM pg_constraint "
            "WHERE conrelid = 'orders_orderline'::regclass AND contype = 'f'"
        )
        assert cursor.fetchone()[0] is True


def test_a_small_import_into_a_larger_table_maintains_the_indexes(tmp_path, bulk_from_one_line):
    transactions_import(path=FIXTURES / "online_retail_sample.csv", fmt="online-retail")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE orders_orderline")
    path = tmp_path / "retail.csv"
    path.write_text(HEADER + LINES[-1] + "\n")

    report = transactions_import(path=path, fmt="online-retail")

    assert (report.lines_created, report.bulk_load) == (1, False)


def test_a_small_first_import_maintains_the_indexes():
    report = transactions_import(path=FIXTURES / "online_retail_sample.csv", fmt="online-retail")

    assert (report.lines_created, report.bulk_load) == (6, False)


def test_a_failure_while_the_indexes_are_dropped_restores_them_and_commits_nothing(bulk_from_one_line):
    before = _orderline_structures()
    # Raised by the database once retailers, products and orders are in and the lines are being written.
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION pg_temp.refuse_line() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'disk full (simulated)'; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER refuse_line BEFORE INSERT ON orders_orderline "
            "FOR EACH ROW EXECUTE FUNCTION pg_temp.refuse_line()"
        )
    stderr = io.StringIO()

    with pytest.raises(CommandError, match="disk full"):
        call_command(
            "import_transactions",
            str(FIXTURES / "online_retail_sample.csv"),
            "--format",
            "online-retail",
            "--no-progress",
            stdout=io.StringIO(),
            stderr=stderr,
        )

    assert _orderline_structures() == before
    assert not Order.objects.exists()
    run = ImportRun.objects.get()
    assert run.status == ImportRun.Status.FAILED
    assert run.counts["rows_read"] == 15
