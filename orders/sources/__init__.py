"""Readers turning purchase-history files into a stream of rows, one per input line. Plain Python, no Django.

    from orders.sources import read_transactions, TransactionRow, RejectedRow, SkippedRow, ColumnMapping

    for row in read_transactions(path, "online-retail"):       # or "instacart" (a folder), or "csv" + mapping
        match row:
            case TransactionRow(): ...   # one sold line: customer, order, placed_at (aware UTC), product,
                                         # description, quantity (> 0), unit_price (Decimal | None),
                                         # category ("" or "Department / Aisle"), country
            case SkippedRow(): ...       # valid but excluded by the format's rules (line_no, reason)
            case RejectedRow(): ...      # malformed (line_no, reason, raw): report it to the user

`read_transactions(path, fmt, *, mapping=None, encoding="utf-8", limits=None)`:
- "online-retail": the UCI Online Retail CSV, plain or gzipped; rules in `orders.sources.online_retail`.
- "instacart": the folder of the Kaggle Instacart CSVs; dates are synthesised, see `orders.sources.instacart`.
- "csv": any transactions CSV, `mapping=ColumnMapping(customer=..., date=..., product=..., [order, quantity,
  price, category, description])` or `ColumnMapping.parse("customer=Cust,date=Date,product=SKU")`;
  see `orders.sources.generic_csv`.
Files may be gzipped (detected by their magic bytes, whatever the name). `line_no` is the physical line in the
file, the header being line 1. Rows are yielded lazily: memory stays constant (Instacart keeps its order and
product lookups). The same (order, product) may occur on several rows; consumers sum their quantities.

Rules every format shares (`rows.CsvFile`, `rows.normalise_key`, `rows.FieldLimits`):
- One record per physical line. Fields may be quoted (`"a, b"`, `""` for a quote inside), but a quoted field
  never spans lines: none of these datasets has line breaks inside a field, and a quote left open would
  otherwise swallow the following lines into one field. So a line whose quote is not closed on that line (in
  the middle of the file or at its end), or with text after a closing quote, is a RejectedRow ("unterminated
  quote", "malformed quoting"), and the next line is read on its own.
- A line holding a NUL character is a RejectedRow naming the column (no database stores NUL in text); the
  reported raw line shows it as `\x00`.
- Text is UTF-8 (a leading BOM is dropped) unless `encoding` names another ASCII-compatible codec
  (`latin-1`, `cp1252`...). A line that does not decode raises `SourceError` naming the line, the byte and
  its position: guessing would store wrong names, and decoding as Latin-1 never fails, so it must be chosen.
- Customer and order keys go through `normalise_key`: trimmed, and an integer written as a float
  (`17850.0`, as spreadsheets and pandas export ids) becomes `17850`, whichever reader reads it.
- With `limits` (the importer passes the database's, see `orders.imports.field_limits`), a row whose key,
  name, category, country, quantity or price the database would refuse is a RejectedRow saying which and why.
  Numbers must be finite (`NaN`, `inf` are rejected) in any case.

A file that cannot be read at all raises `SourceError` on first iteration: missing, empty (0 bytes, a gzip of
nothing, or only blank lines: "is empty"), wrong header, bad mapping, unknown encoding, a line that does not
decode, or a read error (a truncated gzip).
"""

from collections.abc import Iterator
from pathlib import Path

from .generic_csv import read_generic_csv
from .instacart import read_instacart
from .online_retail import read_online_retail
from .rows import (
    ColumnMapping,
    FieldLimits,
    RejectedRow,
    SkippedRow,
    SourceError,
    SourceRow,
    TransactionRow,
    normalise_key,
)

FORMATS = ("online-retail", "instacart", "csv")

__all__ = [
    "FORMATS",
    "ColumnMapping",
    "FieldLimits",
    "RejectedRow",
    "SkippedRow",
    "SourceError",
    "SourceRow",
    "TransactionRow",
    "normalise_key",
    "read_transactions",
]


def read_transactions(
    path: str | Path,
    fmt: str,
    *,
    mapping: ColumnMapping | None = None,
    encoding: str = "utf-8",
    limits: FieldLimits | None = None,
) -> Iterator[TransactionRow | RejectedRow | SkippedRow]:
    path = Path(path)
    if fmt == "online-retail":
        return read_online_retail(path, encoding=encoding, limits=limits)
    if fmt == "instacart":
        return read_instacart(path, encoding=encoding, limits=limits)
    if fmt == "csv":
        if mapping is None:
            raise SourceError("the csv format needs a column mapping (customer=...,date=...,product=...)")
        return read_generic_csv(path, mapping, encoding=encoding, limits=limits)
    raise SourceError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
