from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from orders.imports import ImportFailed, ImportReport, transactions_import
from orders.sources import FORMATS, ColumnMapping, SourceError

REJECTED_LISTED = 20


class Command(BaseCommand):
    help = (
        "Import a purchase history (UCI Online Retail CSV, Instacart folder, or any CSV with --map) as "
        "retailers, products and placed orders, in one transaction. Importing the same data twice "
        "changes nothing. A failed import changes nothing and is recorded as a failed import run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="the CSV file (may be gzipped), or the Instacart folder")
        parser.add_argument("--format", dest="fmt", choices=FORMATS, required=True)
        parser.add_argument(
            "--map",
            dest="mapping",
            help="for --format csv: field=Column pairs, e.g. customer=Cust,date=Date,product=SKU[,order=..."
            ",quantity=...,price=...,category=...,description=...]",
        )
        parser.add_argument("--vendor", help="name of the vendor owning the imported products")
        parser.add_argument(
            "--source",
            help="namespace of the retailer and order keys (default: the format); e.g. --format csv "
            "--source online-retail --vendor 'Online Retail (UK)' merges a CSV export of Online Retail data "
            "into the retailers and orders of an earlier --format online-retail import",
        )
        parser.add_argument(
            "--encoding",
            default="utf-8",
            help="text encoding of the file(s) when not UTF-8, e.g. latin-1 or cp1252 (default: utf-8)",
        )
        parser.add_argument("--rejects", help="write every rejected row (line, reason, raw) to this TSV file")
        parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    def handle(self, *args, path: str, fmt: str, mapping: str | None, vendor: str | None, **options) -> None:
        if mapping and fmt != "csv":
            raise CommandError("--map only applies to --format csv")
        rejects_path = options["rejects"]
        try:
            column_mapping = ColumnMapping.parse(mapping) if mapping else None
        except SourceError as exc:
            raise CommandError(f"Nothing imported: {exc}") from exc
        try:
            if rejects_path:
                with Path(rejects_path).open("w", encoding="utf-8") as rejects_file:
                    report = self._import(path, fmt, column_mapping, vendor, rejects_file, options)
            else:
                report = self._import(path, fmt, column_mapping, vendor, None, options)
        except ImportFailed as exc:
            recorded = f"\nThe attempt is recorded as failed import run #{exc.run.pk}." if exc.run else ""
            raise CommandError(f"Nothing imported: {exc.reason}{recorded}") from exc
        except OSError as exc:
            raise CommandError(
                f"Nothing imported: cannot write the rejects file {rejects_path}: {exc}"
            ) from exc
        self._print_report(report, rejects_path)

    def _import(self, path, fmt, mapping, vendor, rejects_file, options) -> ImportReport:
        return transactions_import(
            path=path,
            fmt=fmt,
            mapping=mapping,
            vendor_name=vendor,
            rejects_file=rejects_file,
            progress=not options["no_progress"],
            encoding=options["encoding"],
            source=options["source"],
        )

    def _print_report(self, report: ImportReport, rejects_path: str | None) -> None:
        write = self.stdout.write
        write(f"Imported {report.path} ({report.source}) for vendor {report.vendor!r}")
        counts = [
            ("rows read", report.rows_read),
            ("rows imported", report.rows_staged),
            *((f"skipped: {reason}", count) for reason, count in sorted(report.skipped.items())),
            ("rejected", report.rejected_total),
            ("retailers created", report.retailers_created),
            ("categories created", report.categories_created),
            ("products created", report.products_created),
            ("orders created", report.orders_created),
            ("order lines created", report.lines_created),
        ]
        for label, count in counts:
            write(f"  {label:<32}{count:>10,}")
        write(f"  {'time':<32}{report.seconds:>10.1f} s ({report.rows_per_second:,.0f} rows/s)")
        if report.rejected_total:
            self.stderr.write(f"{report.rejected_total} rejected rows; the first ones:")
            for row in report.rejected[:REJECTED_LISTED]:
                self.stderr.write(f"  line {row.line_no}: {row.reason}: {row.raw}")
            if rejects_path:
                self.stderr.write(f"All rejected rows are in {rejects_path}")
