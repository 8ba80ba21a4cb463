"""`manage.py evaluate`: offline leaderboard of every recommender on a file or on the database."""

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from orders.sources import (
    FORMATS,
    ColumnMapping,
    RejectedRow,
    SkippedRow,
    SourceError,
    TransactionRow,
    read_transactions,
)
from recommendations.ml.data import TrainingData, training_data_from_rows
from recommendations.ml.leaderboard import (
    NothingToEvaluate,
    finite_json,
    format_calibration,
    format_completion,
    format_intervals,
    format_selection,
    format_table,
    leaderboard,
)
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
        if dataset:
            data, read = self._read_file(dataset, fmt, mapping)
            self.stdout.write(_input_text(read))
        else:
            data = training_data_from_db()
            read = {"rows_used": len(data.interactions), "dropped": 0, "skipped": {}, "rejected": {}}
        if data.view.orders.empty:
            raise CommandError("no placed orders to evaluate on")
        try:
            board = leaderboard(data)
        except NothingToEvaluate as error:
            raise CommandError(str(error)) from error
        board["source"] = f"{dataset} ({fmt})" if dataset else "database"
        board["input_rows"] = read
        self.stdout.write(board["protocol"])
        weights = ", ".join(f"{name} {weight:.3f}" for name, weight in board["hybrid_weights"].items())
        self.stdout.write(
            f"{board['retailers']} retailers, {board['orders']} orders, {board['products']} products, "
            f"{board['test_baskets']} test baskets; hybrid weights: {weights}"
        )
        self.stdout.write(format_selection(board))
        self.stdout.write(format_table(board))
        self.stdout.write(format_intervals(board))
        self.stdout.write(format_completion(board))
        self.stdout.write(format_calibration(board))
        self._write_sections(board)
        if json_out:
            # Undefined values are null, never NaN: allow_nan=False fails loudly if one slipped through.
            Path(json_out).write_text(json.dumps(finite_json(board), indent=2, default=str, allow_nan=False))
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

    def _read_file(self, dataset: str, fmt: str, mapping: str | None) -> tuple[TrainingData, dict[str, Any]]:
        """The file's usable rows as TrainingData, and how many rows were dropped for which reason."""
        rows: list[TransactionRow] = []
        dropped: dict[str, Counter[str]] = {"skipped": Counter(), "rejected": Counter()}
        try:
            column_mapping = ColumnMapping.parse(mapping) if mapping else None
            for row in read_transactions(dataset, fmt, mapping=column_mapping):
                if isinstance(row, TransactionRow):
                    rows.append(row)
                elif isinstance(row, SkippedRow):
                    dropped["skipped"][reason_key(row.reason)] += 1
                elif isinstance(row, RejectedRow):
                    dropped["rejected"][reason_key(row.reason)] += 1
        except SourceError as error:
            raise CommandError(str(error)) from error
        read = {
            "rows_used": len(rows),
            "dropped": sum(dropped["skipped"].values()) + sum(dropped["rejected"].values()),
        } | {kind: dict(counts.most_common()) for kind, counts in dropped.items()}
        if not rows:
            raise CommandError(f"{dataset} has no usable transaction rows. {_input_text(read)}")
        data, _ = training_data_from_rows(rows)
        return data, read


def reason_key(reason: str) -> str:
    """A row's reason without the row's own values (quoted text, numbers), so that rows dropped for the same
    reason are counted together: "Quantity 'x1' is not a whole number" -> "Quantity ... is not a whole
    number"."""
    reason = re.sub(r"'(?:[^'\\]|\\.)*'(?:\.\.\.)?|\"(?:[^\"\\]|\\.)*\"(?:\.\.\.)?", "...", reason)
    return re.sub(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])", "N", reason)


def _input_text(read: dict[str, Any]) -> str:
    """The rows used and dropped, with the count of each reason, in one line for people."""
    labels = {"skipped": "skipped by the format's rules", "rejected": "rejected as malformed"}
    parts = [f"Rows used: {read['rows_used']:,}; dropped: {read['dropped']:,}"]
    parts += [
        f"{label}: " + ", ".join(f"{count:,} {reason}" for reason, count in read[kind].items())
        for kind, label in labels.items()
        if read[kind]
    ]
    return "; ".join(parts)
