"""Readers turning purchase-history files into a stream of rows, one per input line. Plain Python, no Django.

    from orders.sources import read_transactions, TransactionRow, RejectedRow, SkippedRow, ColumnMapping

    for row in read_transactions(path, "online-retail"):       # or "instacart" (a folder), or "csv" + mapping
        match row:
            case TransactionRow(): ...   # one sold line: customer, order, placed_at (aware UTC), product,
                                         # description, quantity (> 0), unit_price (Decimal | None),
                                         # category ("" or "Department / Aisle"), country
            case SkippedRow(): ...       # valid but excluded by the format's rules (line_no, reason)
            case RejectedRow(): ...      # malformed (line_no, reason, raw): report it to the user

`read_transactions(path, fmt, *, mapping=None)`:
- "online-retail": the UCI Online Retail CSV, plain or gzipped; rules in `orders.sources.online_retail`.
- "instacart": the folder of the Kaggle Instacart CSVs; dates are synthesised, see `orders.sources.instacart`.
- "csv": any transactions CSV, `mapping=ColumnMapping(customer=..., date=..., product=..., [order, quantity,
  price, category, description])` or `ColumnMapping.parse("customer=Cust,date=Date,product=SKU")`;
  see `orders.sources.generic_csv`.
Files may be gzipped (detected by their magic bytes, whatever the name). `line_no` is the physical line in the
file, the header being line 1. Rows are yielded lazily: memory stays constant (Instacart keeps its order and
product lookups). A file that cannot be read at all (missing, wrong header, bad mapping) raises `SourceError`
on first iteration. The same (order, product) may occur on several rows; consumers sum their quantities.
"""

from collections.abc import Iterator
from pathlib import Path

from .generic_csv import read_generic_csv
from .instacart import read_instacart
from .online_retail import read_online_retail
from .rows import ColumnMapping, RejectedRow, SkippedRow, SourceError, SourceRow, TransactionRow

FORMATS = ("online-retail", "instacart", "csv")

__all__ = [
    "FORMATS",
    "ColumnMapping",
    "RejectedRow",
    "SkippedRow",
    "SourceError",
    "SourceRow",
    "TransactionRow",
    "read_transactions",
]


def read_transactions(
    path: str | Path, fmt: str, *, mapping: ColumnMapping | None = None
) -> Iterator[TransactionRow | RejectedRow | SkippedRow]:
    path = Path(path)
    if fmt == "online-retail":
        return read_online_retail(path)
    if fmt == "instacart":
        return read_instacart(path)
    if fmt == "csv":
        if mapping is None:
            raise SourceError("the csv format needs a column mapping (customer=...,date=...,product=...)")
        return read_generic_csv(path, mapping)
    raise SourceError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
