"""`manage.py evaluate_forecasts`: rolling-origin backtest of every forecast method (file or database)."""

import json
from pathlib import Path
from typing import Any

import pandas as pd
from django.core.management.base import BaseCommand, CommandError, CommandParser

from orders.models import Order, OrderLine
from orders.sources import FORMATS, ColumnMapping, SourceError, TransactionRow, read_transactions
from vendors.forecasting import backtest, format_table, last_full_week, weekly_panel


class Command(BaseCommand):
    help = (
        "Backtest the weekly demand forecasts (naive, 4-week average, every model, the per-series "
        "selection) on a transactions file or on the database's placed orders."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dataset", help="transactions file (or Instacart folder); default: the database"
        )
        parser.add_argument("--format", choices=FORMATS, default="online-retail", dest="fmt")
        parser.add_argument(
            "--mapping", help="column mapping for --format csv, e.g. customer=Cust,date=Date,..."
        )
        parser.add_argument("--json", dest="json_out", help="write the scores as JSON to this path")
        parser.add_argument("--origins", type=int, default=8, help="forecast starts scored (default 8)")
        parser.add_argument("--horizon", type=int, default=4, help="weeks forecast from each start")
        parser.add_argument(
            "--min-history", type=int, default=20, help="weeks a series needs before the first start"
        )

    def handle(
        self,
        *args: Any,
        dataset: str | None,
        fmt: str,
        mapping: str | None,
        json_out: str | None,
        origins: int,
        horizon: int,
        min_history: int,
        **options: Any,
    ) -> None:
        lines = self._read_file(dataset, fmt, mapping) if dataset else _lines_from_db()
        if lines.empty:
            raise CommandError("no placed orders to evaluate on")
        last_week = last_full_week(pd.Timestamp(lines["day"].max()).date())
        weekly = weekly_panel(lines, last_week=last_week)
        try:
            report = backtest(weekly, origins=origins, horizon=horizon, min_history=min_history)
        except ValueError as error:
            raise CommandError(str(error)) from error
        source = f"{dataset} ({fmt})" if dataset else "database"
        self.stdout.write(report.protocol)
        self.stdout.write(
            f"{source}: {weekly['unique_id'].nunique()} series, {weekly['ds'].nunique()} weeks up to "
            f"{last_week}; {report.series} series scored"
        )
        self.stdout.write(format_table(report))
        for origin in report.selection:
            self.stdout.write(
                f"{origin['origin']}: overall {origin['overall_method']} (WAPE {origin['overall_wape']}), "
                f"{origin['own']} series on their own best method, {origin['naive']} on naive "
                f"(nothing beat it clearly), {origin['unsold']} without sales in the backtest"
            )
        if json_out:
            payload = {"source": source, "last_week": str(last_week), **report.as_json()}
            Path(json_out).write_text(json.dumps(payload, indent=2))
            self.stdout.write(f"wrote {json_out}")

    def _read_file(self, dataset: str, fmt: str, mapping: str | None) -> pd.DataFrame:
        try:
            column_mapping = ColumnMapping.parse(mapping) if mapping else None
            rows = [
                (row.product, row.placed_at, row.quantity)
                for row in read_transactions(dataset, fmt, mapping=column_mapping)
                if isinstance(row, TransactionRow)
            ]
        except SourceError as error:
            raise CommandError(str(error)) from error
        if not rows:
            raise CommandError(f"{dataset} has no usable transaction rows")
        return _lines(rows)


def _lines_from_db() -> pd.DataFrame:
    """Units per product and order line of every placed order (the product id is the series key)."""
    rows = OrderLine.objects.filter(order__status=Order.Status.PLACED).values_list(
        "product_id", "order__placed_at", "quantity"
    )
    return _lines([(str(product), placed_at, quantity) for product, placed_at, quantity in rows.iterator()])


def _lines(rows: list[tuple[str, Any, int]]) -> pd.DataFrame:
    lines = pd.DataFrame(rows, columns=["unique_id", "day", "units"])
    # Weeks are counted in UTC, as the importer stores every date.
    lines["day"] = pd.to_datetime(lines["day"], utc=True).dt.tz_localize(None)
    return lines
