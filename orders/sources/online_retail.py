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
4. Quantity <= 0 (returns and corrections) -> skipped;
5. a value beyond what the database stores (see `FieldLimits`) -> rejected.

Unit price 0 is kept: a free item is still part of what the customer ordered. CustomerID and InvoiceNo go
through `normalise_key` (`17850.0` becomes `17850`). Dates are the shop's local (UK) time and are read as UTC.
Exact duplicate lines are passed through; the importer keys order lines on (invoice, stock code) and sums
their quantities.
"""

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from .rows import (
    CsvFile,
    FieldLimits,
    RejectedRow,
    SkippedRow,
    SourceError,
    SourceRow,
    TransactionRow,
    normalise_key,
    parse_price,
    parse_quantity,
    raw_line,
    shown,
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


def read_online_retail(
    path: Path, *, encoding: str = "utf-8", limits: FieldLimits | None = None
) -> Iterator[SourceRow]:
    with CsvFile(path, encoding) as source:
        if [column.strip() for column in source.header] != HEADER:
            raise SourceError(
                f"{path}: expected the Online Retail header {','.join(HEADER)}, got {source.header}"
            )
        for item in source.records():
            if isinstance(item, RejectedRow):
                yield item
                continue
            line_no, record = item
            row = _parse(line_no, record)
            if isinstance(row, TransactionRow) and limits and (problem := limits.problem(row)):
                yield RejectedRow(line_no, problem, raw_line(record))
            else:
                yield row


def _parse(line_no: int, record: list[str]) -> SourceRow:
    if len(record) != len(HEADER):
        return RejectedRow(line_no, f"expected {len(HEADER)} columns, got {len(record)}", raw_line(record))
    invoice_raw, stock_code, description, quantity_raw, date_raw, price_raw, customer_raw, country = (
        value.strip() for value in record
    )
    invoice, customer = normalise_key(invoice_raw), normalise_key(customer_raw)
    if invoice.startswith("C"):
        return SkippedRow(line_no, "cancellation")
    if invoice.startswith("A"):
        return SkippedRow(line_no, "adjustment")
    if not customer:
        return SkippedRow(line_no, "no customer")
    if not is_product_code(stock_code):
        return SkippedRow(line_no, "non-product code")
    if not invoice:
        return RejectedRow(line_no, "empty InvoiceNo", raw_line(record))
    try:
        quantity = parse_quantity(quantity_raw, "Quantity")
    except ValueError as exc:
        return RejectedRow(line_no, str(exc), raw_line(record))
    try:
        placed_at = datetime.fromisoformat(date_raw)
        placed_at = placed_at.replace(tzinfo=UTC) if placed_at.tzinfo is None else placed_at.astimezone(UTC)
    except (ValueError, OverflowError):
        return RejectedRow(
            line_no, f"InvoiceDate {shown(date_raw)} is not YYYY-MM-DD HH:MM:SS", raw_line(record)
        )
    try:
        unit_price = parse_price(price_raw, "UnitPrice")
    except ValueError as exc:
        return RejectedRow(line_no, str(exc), raw_line(record))
    if quantity <= 0:
        return SkippedRow(line_no, "quantity not positive")
    return TransactionRow(
        line_no=line_no,
        customer=customer,
        order=invoice,
        placed_at=placed_at,
        product=stock_code,
        description=description,
        quantity=quantity,
        unit_price=unit_price,
        category="",
        country=country,
    )
