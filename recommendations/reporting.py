"""How the pipeline's numbers are written for people: durations in minutes and seconds, and a version's
metrics as a models x metrics table. The admin and the `retrain` command share these, so both say the same."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

METRIC_DECIMALS = 3
# The blend member results come first in this order; other members follow alphabetically.
LEADING_ROWS = ("hybrid",)
LEADING_COLUMNS = ("ndcg@10", "recall@10", "hit@10", "precision@10", "coverage@10", "completion_hit@10")
# Entries of ModelVersion.metrics that are not one model's results.
NOT_MODELS = frozenset({"comparison"})


def human_duration(seconds: float | None) -> str:
    """329.180659 -> "5 min 29 s"; 3725 -> "1 h 2 min 5 s"; 0.4 -> "0.4 s". None (not measured) -> "-"."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h"] if hours else []
    if hours or minutes:
        parts.append(f"{minutes} min")
    parts.append(f"{secs} s")
    return " ".join(parts)


@dataclass(frozen=True)
class MetricsTable:
    columns: list[str]
    # (model name, one formatted cell per column: "-" where the model has no such metric).
    rows: list[tuple[str, list[str]]]

    def text(self) -> str:
        """A fixed-width table for a terminal."""
        header = ["model", *self.columns]
        body = [[name, *cells] for name, cells in self.rows]
        widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

        def line(cells: list[str]) -> str:
            return "  ".join(
                cell.ljust(width) if i == 0 else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
            )

        return "\n".join([line(header), line(["-" * width for width in widths]), *map(line, body)])


def _numeric(values: Any) -> dict[str, float]:
    if not isinstance(values, Mapping):
        return {}
    return {
        str(key): float(value)
        for key, value in values.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


def metrics_table(
    metrics: Mapping[str, Any],
    *,
    extra_rows: Mapping[str, Mapping[str, Any]] | None = None,
    columns: tuple[str, ...] | None = None,
) -> MetricsTable:
    """Every entry of `metrics` that maps metric names to numbers is a row (the blend's weights and the
    champion comparison are not); `extra_rows` (e.g. the champion's hybrid) are appended as given. `columns`
    keeps only those metrics (a short table for a terminal); by default every metric is a column."""
    named = {name: _numeric(values) for name, values in metrics.items() if name not in NOT_MODELS}
    named = {name: values for name, values in named.items() if values}
    order = [name for name in LEADING_ROWS if name in named] + sorted(set(named) - set(LEADING_ROWS))
    rows = [(name, named[name]) for name in order]
    rows += [(name, _numeric(values)) for name, values in (extra_rows or {}).items()]
    seen = {column for _, values in rows for column in values}
    if columns is None:
        shown = [column for column in LEADING_COLUMNS if column in seen] + sorted(seen - set(LEADING_COLUMNS))
    else:
        shown = [column for column in columns if column in seen]
    return MetricsTable(
        columns=shown,
        rows=[
            (
                name,
                [f"{values[column]:.{METRIC_DECIMALS}f}" if column in values else "-" for column in shown],
            )
            for name, values in rows
        ],
    )


def counts_text(counts: Mapping[str, int]) -> str:
    """{"due": 1200, "for_you": 4000} -> "4,000 for you, 1,200 due": largest first, since the database does
    not keep a JSON object's key order."""
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{value:,} {key.replace('_', ' ')}" for key, value in ordered)
