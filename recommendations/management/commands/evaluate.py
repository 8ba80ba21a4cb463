"""`manage.py evaluate`: offline leaderboard of every recommender on a file or on the database."""

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from orders.sources import FORMATS, ColumnMapping, SourceError, TransactionRow, read_transactions
from recommendations.ml.data import TrainingData, training_data_from_rows
from recommendations.ml.leaderboard import format_calibration, format_table, leaderboard
from recommendations.ml.sections import format_sections
from recommendations.training_data import training_data_from_db


class Command(BaseCommand):
    help = "Evaluate every recommender (protocols A and B) on a transactions file or on the database."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dataset", help="transactions file (or Instacart folder); default: the database"
        )
        parser.add_argument("--format", choices=FORMATS, default="online-retail", dest="fmt")
        parser.add_argument(
            "--mapping", help="column mapping for --format csv, e.g. customer=Cust,date=Date,..."
        )
        parser.add_argument("--json", dest="json_out", help="write the leaderboard as JSON to this path")

    def handle(
        self,
        *args: Any,
        dataset: str | None,
        fmt: str,
        mapping: str | None,
        json_out: str | None,
        **options: Any,
    ) -> None:
        data = self._read_file(dataset, fmt, mapping) if dataset else training_data_from_db()
        if data.view.orders.empty:
            raise CommandError("no placed orders to evaluate on")
        board = leaderboard(data)
        board["source"] = f"{dataset} ({fmt})" if dataset else "database"
        self.stdout.write(board["protocol"])
        weights = ", ".join(f"{name} {weight:.3f}" for name, weight in board["hybrid_weights"].items())
        self.stdout.write(
            f"{board['retailers']} retailers, {board['orders']} orders, {board['products']} products, "
            f"{board['test_baskets']} test baskets; hybrid weights: {weights}"
        )
        self.stdout.write(format_table(board))
        self.stdout.write(format_calibration(board))
        self._write_sections(board)
        if json_out:
            Path(json_out).write_text(json.dumps(board, indent=2, default=str))
            self.stdout.write(f"wrote {json_out}")

    def _write_sections(self, board: dict[str, Any]) -> None:
        lambdas = ", ".join(
            f"{surface} {choice['lambda']:.1f}" for surface, choice in board["diversity_lambdas"].items()
        )
        self.stdout.write(
            f"\nDashboard lists of the {board['sections']['retailers']} test retailers (top "
            f"{board['sections']['k']}; due = the first {board['sections']['due_count']} due predictions). "
            f"MMR lambda fixed on validation: {lambdas or 'none (no validation baskets)'}. ILD = intra-list "
            "diversity, the mean pairwise dissimilarity of a list; new_for_you is scored against the test "
            "basket's products the retailer had never bought."
        )
        self.stdout.write(format_sections(board["sections"]))

    def _read_file(self, dataset: str, fmt: str, mapping: str | None) -> TrainingData:
        try:
            column_mapping = ColumnMapping.parse(mapping) if mapping else None
            rows = [
                row
                for row in read_transactions(dataset, fmt, mapping=column_mapping)
                if isinstance(row, TransactionRow)
            ]
        except SourceError as error:
            raise CommandError(str(error)) from error
        if not rows:
            raise CommandError(f"{dataset} has no usable transaction rows")
        data, _ = training_data_from_rows(rows)
        return data
