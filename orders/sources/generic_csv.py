"""Reader for any transactions CSV, given a `ColumnMapping` from field names to its headers.

Without an order column, all of a customer's lines on one calendar day form one order, keyed
`<customer>@<YYYY-MM-DD>`. Without a quantity column every line is one unit; without a price column the price
is unknown (None). Dates: ISO 8601 (`2024-03-01`, `2024-03-01T09:30`, with or without an offset), or day-first
`01/03/2024`, `01.03.2024`, `01-03-2024` with an optional `HH:MM[:SS]`; naive times are UTC. A category
written `Department / Aisle` becomes a two-level category. Customer and order keys go through `normalise_key`
(`17850.0` becomes `17850`, as in the Online Retail reader). Empty customer, product, date, a non-positive
quantity or a value beyond what the database stores (see `FieldLimits`) -> rejected; nothing is silently
skipped.
"""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from .rows import (
    ColumnMapping,
    CsvFile,
    FieldLimits,
    RejectedRow,
    SourceError,
    SourceRow,
    TransactionRow,
    normalise_key,
    parse_price,
    parse_quantity,
    raw_line,
    shown,
)

DAY_FIRST_FORMATS = [
    f"{date}{time}" for date in ("%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y") for time in ("", " %H:%M", " %H:%M:%S")
]


def parse_date(raw: str) -> datetime:
    text = raw.strip()
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        for date_format in DAY_FIRST_FORMATS:
            try:
                value = datetime.strptime(text, date_format)
                break
            except ValueError:
                continue
        else:
            raise ValueError(f"date {shown(raw)} is neither ISO 8601 nor DD/MM/YYYY [HH:MM[:SS]]") from None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"date {shown(raw)} is out of range in UTC") from None


def read_generic_csv(
    path: Path, mapping: ColumnMapping, *, encoding: str = "utf-8", limits: FieldLimits | None = None
) -> Iterator[SourceRow]:
    with CsvFile(path, encoding) as source:
        header = [column.strip() for column in source.header]
        positions = {column: index for index, column in enumerate(header)}
        missing = [column for column in mapping.columns().values() if column not in positions]
        if missing:
            raise SourceError(f"{path}: columns {', '.join(missing)} not in header {','.join(header)}")
        index = {field: positions[column] for field, column in mapping.columns().items()}
        for item in source.records():
            if isinstance(item, RejectedRow):
                yield item
                continue
            line_no, record = item
            if not any(value.strip() for value in record):
                continue
            row = _parse(line_no, record, index, len(header))
            if isinstance(row, TransactionRow) and limits and (problem := limits.problem(row)):
                yield RejectedRow(line_no, problem, raw_line(record))
            else:
                yield row


def _parse(line_no: int, record: list[str], index: dict[str, int], width: int) -> SourceRow:
    if len(record) != width:
        return RejectedRow(line_no, f"expected {width} columns, got {len(record)}", raw_line(record))

    def value(field: str) -> str:
        return record[index[field]].strip() if field in index else ""

    customer, product = normalise_key(value("customer")), value("product")
    if not customer:
        return RejectedRow(line_no, "empty customer", raw_line(record))
    if not product:
        return RejectedRow(line_no, "empty product", raw_line(record))
    try:
        placed_at = parse_date(value("date"))
        quantity = parse_quantity(value("quantity")) if "quantity" in index else 1
        unit_price = parse_price(value("price")) if value("price") else None
    except ValueError as exc:
        return RejectedRow(line_no, str(exc), raw_line(record))
    if quantity <= 0:
        return RejectedRow(line_no, f"quantity {quantity} is not positive", raw_line(record))
    return TransactionRow(
        line_no=line_no,
        customer=customer,
        order=normalise_key(value("order")) or f"{customer}@{placed_at.date().isoformat()}",
        placed_at=placed_at,
        product=product,
        description=value("description"),
        quantity=quantity,
        unit_price=unit_price,
        category=value("category"),
        country="",
    )
