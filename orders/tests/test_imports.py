import io
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from accounts.models import Retailer
from accounts.tests.factories import UserFactory
from catalog.models import Category, Product
from orders.imports import ImportFailed, transactions_import
from orders.models import ImportRun, Order, OrderLine
from orders.sources import ColumnMapping, SourceError
from vendors.models import Vendor

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parent / "fixtures"
GENERIC_MAPPING = ColumnMapping.parse(
    "customer=Shop,order=Ticket,date=When,product=SKU,description=Item,quantity=Qty,price=Price,category=Section"
)


def _snapshot() -> dict[str, list[tuple]]:
    """Every row the importer can write, so tests can prove that nothing changed."""
    return {
        "retailers": sorted(Retailer.objects.values_list("external_ref", "name", "country")),
        "vendors": sorted(Vendor.objects.values_list("name", "slug")),
        "categories": sorted(Category.objects.values_list("name", "parent__name")),
        "products": sorted(
            Product.objects.values_list("vendor__name", "sku", "name", "unit_price", "created_at")
        ),
        "orders": sorted(
            Order.objects.values_list("source", "external_ref", "retailer__external_ref", "placed_at")
        ),
        "lines": sorted(
            OrderLine.objects.values_list("order__external_ref", "product__sku", "quantity", "unit_price")
        ),
    }


def test_it_imports_an_online_retail_file():
    report = transactions_import(path=FIXTURES / "online_retail_sample.csv", fmt="online-retail")

    assert (report.rows_read, report.rows_staged, report.rejected_total) == (15, 7, 3)
    assert (
        report.retailers_created,
        report.products_created,
        report.orders_created,
        report.lines_created,
    ) == (
        3,
        5,
        4,
        6,
    )
    retailer = Retailer.objects.get(external_ref="online-retail:12583")
    assert (retailer.name, retailer.country, retailer.region) == ("Customer 12583", "France", "France")
    warmer = Product.objects.get(vendor__name="Online Retail (UK)", sku="22633")
    assert warmer.name == "HAND WARMER UNION JACK"  # the first spelling seen, not the later lower-case one
    assert warmer.unit_price == Decimal("1.65")  # the last price seen
    assert warmer.created_at == datetime(2010, 12, 1, 8, 28, tzinfo=UTC)
    invoice = Order.objects.get(source="online-retail", external_ref="536365")
    assert (invoice.status, invoice.placed_at) == (
        Order.Status.PLACED,
        datetime(2010, 12, 1, 8, 26, tzinfo=UTC),
    )
    assert invoice.retailer.external_ref == "online-retail:17850"
    # The duplicated lantern line is one order line with the quantities summed.
    assert sorted(invoice.lines.values_list("product__sku", "quantity")) == [("71053", 12), ("85123A", 6)]


def test_it_imports_an_instacart_folder_with_two_level_categories():
    report = transactions_import(path=FIXTURES / "instacart", fmt="instacart")

    assert (
        report.retailers_created,
        report.products_created,
        report.orders_created,
        report.lines_created,
    ) == (
        2,
        4,
        6,
        11,
    )
    assert report.categories_created == 6
    cola = Product.objects.get(vendor__name="Instacart", sku="46149")
    assert str(cola.category) == "snacks / nuts seeds dried fruit"
    assert cola.unit_price == Decimal("0")
    train_order = Order.objects.get(source="instacart", external_ref="1187899")
    assert train_order.placed_at == datetime(2017, 2, 20, 8, tzinfo=UTC)
    assert train_order.retailer.external_ref == "instacart:1"


def test_it_imports_a_mapped_csv_under_the_named_vendor():
    report = transactions_import(
        path=FIXTURES / "generic_transactions.csv",
        fmt="csv",
        mapping=GENERIC_MAPPING,
        vendor_name="Acme Coffee",
    )

    assert (
        report.retailers_created,
        report.products_created,
        report.orders_created,
        report.lines_created,
    ) == (
        2,
        2,
        3,
        4,
    )
    coffee = Product.objects.get(vendor__name="Acme Coffee", sku="COF-1")
    assert (coffee.name, str(coffee.category), coffee.unit_price) == (
        "Ground Coffee 1kg",
        "Drinks / Coffee",
        Decimal("12.90"),
    )
    assert Vendor.objects.get(name="Acme Coffee").slug == "acme-coffee"


@pytest.mark.parametrize(
    ("path", "fmt", "mapping"),
    [
        (FIXTURES / "online_retail_sample.csv", "online-retail", None),
        (FIXTURES / "instacart", "instacart", None),
        (FIXTURES / "generic_transactions.csv", "csv", GENERIC_MAPPING),
    ],
)
def test_importing_the_same_data_twice_changes_nothing(path, fmt, mapping):
    transactions_import(path=path, fmt=fmt, mapping=mapping)
    before = _snapshot()

    second = transactions_import(path=path, fmt=fmt, mapping=mapping)

    assert _snapshot() == before
    assert (
        second.retailers_created,
        second.products_created,
        second.orders_created,
        second.lines_created,
    ) == (
        0,
        0,
        0,
        0,
    )
    assert ImportRun.objects.filter(source=fmt).count() == 2


def test_a_failure_midway_rolls_the_whole_import_back_and_records_a_failed_run(tmp_path):
    transactions_import(path=FIXTURES / "online_retail_sample.csv", fmt="online-retail")
    before = _snapshot()
    broken = tmp_path / "broken.csv"
    # Thousands of good lines are staged before line 3002 turns out not to be UTF-8.
    good = b"".join(b"Shop A,T%d,2024-03-01,COF-1\n" % number for number in range(3000))
    broken.write_bytes(b"Shop,Ticket,When,SKU\n" + good + b"Shop \xc9,T9,2024-03-02,MLK-2\n")

    with pytest.raises(ImportFailed) as failed:
        transactions_import(
            path=broken,
            fmt="csv",
            mapping=ColumnMapping.parse("customer=Shop,order=Ticket,date=When,product=SKU"),
            vendor_name="Acme Coffee",
        )

    assert _snapshot() == before
    assert isinstance(failed.value.__cause__, SourceError)
    run = failed.value.run
    assert run == ImportRun.objects.get(status=ImportRun.Status.FAILED)
    assert (run.source, run.path, run.vendor, len(run.sha256)) == ("csv", str(broken), None, 64)
    assert run.error == failed.value.reason
    assert "line 3002 is not valid utf-8: byte 0xc9 at character 6" in run.error
    assert 0 < run.counts["rows_read"] < 3000
    assert ImportRun.objects.get(status=ImportRun.Status.SUCCEEDED).source == "online-retail"


def test_a_failed_run_keeps_an_existing_vendor(tmp_path):
    transactions_import(path=FIXTURES / "online_retail_sample.csv", fmt="online-retail")

    with pytest.raises(ImportFailed):
        transactions_import(path=tmp_path / "missing.csv", fmt="online-retail")

    run = ImportRun.objects.get(status=ImportRun.Status.FAILED)
    assert (run.vendor.name, run.sha256) == ("Online Retail (UK)", "")
    assert run.error.endswith("missing.csv does not exist or is not a file")


def test_the_command_reports_rejected_rows_with_line_numbers(tmp_path):
    rejects = tmp_path / "rejects.tsv"
    stdout, stderr = io.StringIO(), io.StringIO()

    call_command(
        "import_transactions",
        str(FIXTURES / "online_retail_sample.csv"),
        "--format",
        "online-retail",
        "--rejects",
        str(rejects),
        "--no-progress",
        stdout=stdout,
        stderr=stderr,
    )

    assert f"{'orders created':<32}{4:>10}" in stdout.getvalue()
    assert "line 13: Quantity 'three' is not a whole number" in stderr.getvalue()
    assert "line 15: expected 8 columns, got 7" in stderr.getvalue()
    assert [line.split("\t")[0] for line in rejects.read_text().splitlines()] == ["13", "14", "15"]
    run = ImportRun.objects.get()
    assert run.counts["rejected_total"] == 3
    assert [row["line_no"] for row in run.rejected_rows] == [13, 14, 15]
    assert len(run.sha256) == 64


def test_the_command_refuses_a_csv_without_mapping_and_imports_nothing():
    with pytest.raises(CommandError, match="needs a column mapping"):
        call_command("import_transactions", str(FIXTURES / "generic_transactions.csv"), "--format", "csv")

    assert not Order.objects.exists()


def test_the_command_turns_a_failed_import_into_a_clear_error(tmp_path):
    missing = tmp_path / "missing.csv"
    stdout, stderr = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError) as refused:
        call_command(
            "import_transactions", str(missing), "--format", "online-retail", stdout=stdout, stderr=stderr
        )

    run = ImportRun.objects.get()
    assert str(refused.value) == (
        f"Nothing imported: {missing} does not exist or is not a file\n"
        f"The attempt is recorded as failed import run #{run.pk}."
    )
    assert "Traceback" not in stdout.getvalue() + stderr.getvalue()
    assert not Retailer.objects.exists()


def test_the_command_refuses_an_unwritable_rejects_file_clearly(tmp_path):
    with pytest.raises(CommandError, match="cannot write the rejects file"):
        call_command(
            "import_transactions",
            str(FIXTURES / "online_retail_sample.csv"),
            "--format",
            "online-retail",
            "--rejects",
            str(tmp_path / "no-such-folder" / "rejects.tsv"),
        )

    assert not Order.objects.exists()


def test_the_admin_lists_failed_runs_with_their_reason(client, tmp_path):
    with pytest.raises(ImportFailed):
        transactions_import(path=tmp_path / "missing.csv", fmt="online-retail")
    client.force_login(UserFactory(staff_member=True))

    listed = client.get(reverse("admin:orders_importrun_changelist"), {"status__exact": "failed"})
    detail = client.get(reverse("admin:orders_importrun_change", args=[ImportRun.objects.get().pk]))

    assert listed.status_code == detail.status_code == 200
    assert "missing.csv does not exist or is not a file" in listed.content.decode()
    assert "Failed" in listed.content.decode()
    assert "missing.csv does not exist or is not a file" in detail.content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_migration_marks_the_runs_recorded_before_it_succeeded():
    executor = MigrationExecutor(connection)
    executor.migrate([("orders", "0002_import_run")])
    old_apps = executor.loader.project_state([("orders", "0002_import_run")]).apps
    vendor = old_apps.get_model("vendors", "Vendor").objects.create(name="Old", slug="old")
    old_apps.get_model("orders", "ImportRun").objects.create(
        source="csv", path="/old.csv", sha256="0" * 64, vendor=vendor, duration_seconds=1.0
    )

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert list(ImportRun.objects.values_list("path", "status", "error")) == [("/old.csv", "succeeded", "")]
