"""Reader for the UCI "Online Retail" CSV (plain or gzipped).

Rules, applied in this order to each data line:
1. wrong column count -> rejected;
2. skipped (valid, but not a sale of a product to a known customer):
   - cancellations (InvoiceNo starting with `C`) and bad-debt adjustments (starting with `A`);
   - no CustomerID;
   - a StockCode that is not a product: products are the codes starting with five digits (`85123A`) and the
     shop's own `DCGS...` items; everything else is a fee, postage, discount or voucher (`POST`, `DOT`, `M`,
     `C2`, `D`, `S`, `BANK CHARGES`, `AMAZONFEE`, `CRUK`, `PADS`, `B`, `gift_0001_20`, ...);
3. unparsable Quantity, InvoiceDate or UnitPrice, or a negative UnitPrice -> rejected;
4. Quantity <= 0 (returns and corrections) -> skipped.

Unit price 0 is kept: a free item is still part of what the customer ordered. CustomerID `17850.0` becomes
`17850`. Dates are the shop's local (UK) time and are read as UTC. Exact duplicate lines are passed through;
the importer keys order lines on (invoice, stock code) and sums their quantities.
"""

import csv
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from .rows import (
    RejectedRow,
    SkippedRow,
    SourceError,
    SourceRow,
    TransactionRow,
    numbered_records,
    open_text,
    parse_quantity,
    raw_line,
)

HEADER = [
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
]
PRODUCT_CODE = re.compile(r"^(\d{5}|DCGS)")


def is_product_code(stock_code: str) -> bool:
    return PRODUCT_CODE.match(stock_code) is not None


def read_online_retail(path: Path) -> Iterator[SourceRow]:
    with open_text(path) as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or [column.strip() for column in header] != HEADER:
            raise SourceError(f"{path}: expected the Online Retail header {','.join(HEADER)}, got {header}")
        for line_no, record in numbered_records(reader):
            yield _parse(line_no, record)


def _parse(line_no: int, record: list[str]) -> SourceRow:
    if len(record) != len(HEADER):
        return RejectedRow(line_no, f"expected {len(HEADER)} columns, got {len(record)}", raw_line(record))
    invoice, stock_code, description, quantity_raw, date_raw, price_raw, customer_raw, country = (
        value.strip() for value in record
    )
    if invoice.startswith("C"):
        return SkippedRow(line_no, "cancellation")
    if invoice.startswith("A"):
        return SkippedRow(line_no, "adjustment")
    if not customer_raw:
        return SkippedRow(line_no, "no customer")
    if not is_product_code(stock_code):
        return SkippedRow(line_no, "non-product code")
    if not invoice:
        return RejectedRow(line_no, "empty InvoiceNo", raw_line(record))
    try:
        quantity = parse_quantity(quantity_raw)
    except (ValueError, ArithmeticError):
        return RejectedRow(line_no, f"Quantity {quantity_raw!r} is not a whole number", raw_line(record))
    try:
        placed_at = datetime.fromisoformat(date_raw)
    except ValueError:
        return RejectedRow(line_no, f"InvoiceDate {date_raw!r} is not YYYY-MM-DD HH:MM:SS", raw_line(record))
    try:
        unit_price = Decimal(price_raw)
    except InvalidOperation:
        return RejectedRow(line_no, f"UnitPrice {price_raw!r} is not a number", raw_line(record))
    if not unit_price.is_finite() or unit_price < 0:
        return RejectedRow(line_no, f"UnitPrice {price_raw!r} is negative or not finite", raw_line(record))
    if quantity <= 0:
        return SkippedRow(line_no, "quantity not positive")
    return TransactionRow(
        line_no=line_no,
        customer=customer_raw.removesuffix(".0"),
        order=invoice,
        placed_at=placed_at.replace(tzinfo=UTC) if placed_at.tzinfo is None else placed_at.astimezone(UTC),
        product=stock_code,
        description=description,
        quantity=quantity,
        unit_price=unit_price,
        category="",
        country=country,
    )
