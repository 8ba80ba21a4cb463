"""Row types shared by every reader, the generic column mapping and file helpers."""

import csv
import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TextIO

GZIP_MAGIC = b"\x1f\x8b"


class SourceError(ValueError):
    """The input cannot be read at all (missing file, missing column, bad mapping): nothing is imported."""


@dataclass(frozen=True, slots=True)
class TransactionRow:
    line_no: int
    customer: str
    order: str
    placed_at: datetime
    product: str
    description: str
    quantity: int
    unit_price: Decimal | None
    category: str
    country: str


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """Malformed input: reported to the user with its line number."""

    line_no: int
    reason: str
    raw: str


@dataclass(frozen=True, slots=True)
class SkippedRow:
    """Valid input that the format's rules exclude (cancellation, no customer, non-product code...)."""

    line_no: int
    reason: str


SourceRow = TransactionRow | RejectedRow | SkippedRow


@dataclass(frozen=True, slots=True, kw_only=True)
class ColumnMapping:
    """Which header of a generic CSV holds which field; only customer, date and product are required."""

    customer: str
    order: str | None = None
    date: str
    product: str
    quantity: str | None = None
    price: str | None = None
    category: str | None = None
    description: str | None = None

    @classmethod
    def parse(cls, spec: str) -> "ColumnMapping":
        """Build a mapping from the command-line form `customer=Cust,date=Date,product=SKU`."""
        known = {field.name for field in fields(cls)}
        values: dict[str, str] = {}
        for item in spec.split(","):
            if not item.strip():
                continue
            key, sep, column = item.partition("=")
            key, column = key.strip(), column.strip()
            if not sep or not column:
                raise SourceError(f"mapping item {item!r} is not of the form field=Column")
            if key not in known:
                raise SourceError(f"unknown mapping field {key!r}; known: {', '.join(sorted(known))}")
            values[key] = column
        missing = [name for name in ("customer", "date", "product") if name not in values]
        if missing:
            raise SourceError(f"mapping needs {', '.join(missing)}")
        return cls(**values)

    def columns(self) -> dict[str, str]:
        """Field name -> CSV header, for the fields that are mapped."""
        return {field.name: getattr(self, field.name) for field in fields(self) if getattr(self, field.name)}


def open_text(path: Path) -> TextIO:
    """Open a UTF-8 (optionally BOM-prefixed) text file, gunzipping it when its first bytes say gzip."""
    if not path.is_file():
        raise SourceError(f"{path} does not exist or is not a file")
    with path.open("rb") as probe:
        is_gzip = probe.read(2) == GZIP_MAGIC
    # The caller closes the returned wrapper, which closes the underlying binary file.
    raw = gzip.open(path, "rb") if is_gzip else path.open("rb")  # noqa: SIM115
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


def numbered_records(reader: Iterator[list[str]]) -> Iterator[tuple[int, list[str]]]:
    """Pair each `csv.reader` record with the physical line it starts on (quoted fields may span lines)."""
    start = reader.line_num + 1  # type: ignore[attr-defined]
    for record in reader:
        yield start, record
        start = reader.line_num + 1  # type: ignore[attr-defined]


def raw_line(record: list[str]) -> str:
    """The record written back as one CSV line, for reporting a rejected row."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(record)
    return buffer.getvalue()


def parse_quantity(raw: str) -> int:
    """An integer quantity; `3.0` is accepted, `2.5` is not."""
    text = raw.strip()
    try:
        return int(text)
    except ValueError:
        value = Decimal(text)  # raises decimal.InvalidOperation (an ArithmeticError) when not a number
        if value != value.to_integral_value():
            raise ValueError(f"quantity {raw!r} is not a whole number") from None
        return int(value)
