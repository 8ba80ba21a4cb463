"""The UCI Online Retail file read in batches of lines, straight into the staging table's COPY text.

`orders.sources.online_retail` reads one line at a time into row objects; at half a million lines that costs
seconds before the database sees a row. Here a batch of lines is split into columns by pandas' C parser, and
every check is made once per distinct value of a column (`pandas.factorize`), not once per line: the file has
a few thousand distinct invoices, customers, codes, dates, quantities and prices for 541,909 lines. The
rows to stage come out as COPY text, the skipped ones as counts.

The reference reader's rules stay the only definition: the values are checked with its own functions
(`normalise_key`, `parse_quantity`, `parse_price`, `datetime.fromisoformat`, `FieldLimits.problem`), and a
line this code does not recognise as plain (a quote, a tab, a backslash, a carriage return or NUL, not eight
columns, an unparsable or out-of-limits value, an empty invoice) is handed whole to the reference reader's
per-line code, which says whether it is a row, a skip or a rejection and why. So both readers agree on every
line (`orders/tests/test_import_batches.py` checks it on every kind of line). Unreadable files (bad
encoding, truncated gzip) are left to the reference reader too, which names the line.
"""

import codecs
import csv
import gzip
import io
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import numpy as np
import pandas as pd

from orders.sources import FieldLimits, RejectedRow, SkippedRow, SourceError, TransactionRow, normalise_key
from orders.sources.online_retail import HEADER, _parse, is_product_code, read_online_retail
from orders.sources.rows import (
    GZIP_MAGIC,
    CsvFile,
    _csv_reason,
    escape_nul,
    parse_price,
    parse_quantity,
    raw_line,
    text_encoding,
)

# Decoded characters per batch: about 45,000 Online Retail lines. Small enough that PostgreSQL parses
# one batch's COPY text while the next is read, large enough that each column has many repeated values.
BATCH_CHARACTERS = 4 << 20
READ_BYTES = 1 << 20
# Characters that make a line one for the reference reader: quoting, COPY text's own escapes, NUL.
SPECIAL = ('"', "\t", "\\", "\r", "\x00")
INVOICE, STOCK_CODE, DESCRIPTION, QUANTITY, DATE, PRICE, CUSTOMER, COUNTRY = range(len(HEADER))
Value = TypeVar("Value")


@dataclass
class Batch:
    """What one batch of lines gave: COPY text of the rows to stage, the rest counted or rejected."""

    lines: int = 0
    copy_text: str = ""
    staged: int = 0
    quantity_total: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    # In line order, like every other reader's.
    rejected: list[RejectedRow] = field(default_factory=list)


def online_retail_batches(
    path: Path, *, encoding: str, limits: FieldLimits, batch_characters: int = BATCH_CHARACTERS
) -> Iterator[Batch]:
    """The file's data lines in batches of about `batch_characters`; `SourceError` as the reference raises."""
    codec = text_encoding(encoding)
    with CsvFile(path, codec) as source:
        if [column.strip() for column in source.header] != HEADER:
            raise SourceError(
                f"{path}: expected the Online Retail header {','.join(HEADER)}, got {source.header}"
            )
    line_no = 2
    try:
        for block in _line_batches(path, codec, batch_characters):
            batch = _batch(block, line_no, limits)
            yield batch
            line_no += batch.lines
    except (UnicodeDecodeError, OSError, EOFError, zlib.error) as exc:
        # The reference reader names the line that does not decode or where the file stops.
        for _row in read_online_retail(path, encoding=codec):
            pass
        raise SourceError(f"{path}: cannot be read: {exc}") from None


def _line_batches(path: Path, codec: str, batch_characters: int) -> Iterator[str]:
    """The text after the header in blocks of whole lines (each ending in "\\n") of `batch_characters` or so.

    Lines end at "\\n" only, as CsvFile reads them; a last line without its newline is given one.
    """
    decoder = codecs.getincrementaldecoder(codec)()
    with _open_binary(path) as binary:
        pieces: list[str] = []
        size, header_seen = 0, False
        while True:
            chunk = binary.read(READ_BYTES)
            text = decoder.decode(chunk, final=not chunk)
            if not header_seen:
                pieces.append(text)
                text = "".join(pieces)
                if "\n" not in text and chunk:
                    pieces = [text]
                    continue
                header_seen, text, pieces = True, text.partition("\n")[2], []
            pieces.append(text)
            size += len(text)
            if not chunk:
                rest = "".join(pieces)
                if rest:
                    yield rest if rest.endswith("\n") else rest + "\n"
                return
            if size >= batch_characters:
                complete, newline, pending = "".join(pieces).rpartition("\n")
                pieces, size = [pending], len(pending)
                if newline:
                    yield complete + newline


def _open_binary(path: Path) -> BinaryIO:
    with path.open("rb") as probe:
        is_gzip = probe.read(2) == GZIP_MAGIC
    return gzip.open(path, "rb") if is_gzip else path.open("rb")  # type: ignore[return-value]


def _batch(block: str, first_line_no: int, limits: FieldLimits) -> Batch:
    """One block of whole lines: the plain ones by column, the others by the reference reader."""
    if "\r" in block:
        # CsvFile strips the carriage returns that end a line (Windows files); one left inside a line
        # makes that line the reference reader's.
        block = block.replace("\r\n", "\n")
    # Scanned as UTF-8 bytes: newline, comma and the special characters are single bytes there, never
    # part of another character.
    data = np.frombuffer(block.encode(), dtype=np.uint8)
    ends = np.flatnonzero(data == ord("\n"))
    batch = Batch(lines=len(ends))
    commas = np.diff(np.searchsorted(np.flatnonzero(data == ord(",")), ends), prepend=0)
    plain = commas == len(HEADER) - 1
    present = [character for character in SPECIAL if character in block]
    for character in present:
        plain[np.searchsorted(ends, np.flatnonzero(data == ord(character)))] = False
    lines = _Lines(data, ends)
    positions = np.flatnonzero(plain)
    columns, staged, skip_reasons = None, np.zeros(0, dtype=bool), {}
    if len(positions):
        # The C parser takes a carriage return or NUL for the end of a line; otherwise the whole block
        # parses one row per line, the lines that are not plain giving rows that are ignored.
        whole = not ({"\r", "\x00"} & set(present))
        text = block if whole else "".join(lines[index] + "\n" for index in positions)
        columns = _columns(text, limits, fields=int(commas.max()) + 1 if whole else len(HEADER))
        if whole:
            if len(columns.raw[INVOICE]) != len(ends):
                raise SourceError("the batch reader lost count of the lines")
            columns.keep(positions)
        staged, skip_reasons = _classify(columns, limits)
    for reason, mask in skip_reasons.items():
        if count := int(mask.sum()):
            batch.skipped[reason] += count
    # Every line that is neither staged nor skipped here is decided by the reference reader.
    decided = staged.copy()
    for mask in skip_reasons.values():
        decided |= mask
    referred = np.ones(len(ends), dtype=bool)
    referred[positions[decided]] = False
    referred_rows: list[str] = []
    for index in np.flatnonzero(referred):
        row = _reference_row(first_line_no + int(index), lines[index].rstrip("\r"), limits)
        if isinstance(row, TransactionRow):
            referred_rows.append(_copy_line(row))
            batch.staged += 1
            batch.quantity_total += row.quantity
        elif isinstance(row, SkippedRow):
            batch.skipped[row.reason] += 1
        else:
            batch.rejected.append(row)
    batch.copy_text = "".join(referred_rows)
    if columns is not None and staged.any():
        line_numbers = positions[staged] + first_line_no
        batch.staged += len(line_numbers)
        batch.quantity_total += int(columns.quantity_values[staged].sum())
        batch.copy_text += _copy_text(columns, staged, line_numbers)
    return batch


class _Lines:
    """The block's lines by index, cut from its UTF-8 bytes (decoding them gives the text back exactly)."""

    def __init__(self, data: np.ndarray, ends: np.ndarray) -> None:
        self.data, self.ends = data, ends

    def __getitem__(self, index: int) -> str:
        start = int(self.ends[index - 1]) + 1 if index else 0
        return self.data[start : int(self.ends[index])].tobytes().decode()


def _columns(text: str, limits: FieldLimits, *, fields: int) -> "_Columns":
    frame = pd.read_csv(
        io.StringIO(text),
        header=None,
        names=list(range(max(fields, len(HEADER)))),
        usecols=list(range(len(HEADER))),
        dtype=object,
        na_filter=False,
        # Quotes are plain characters here, so the parser splits exactly at the commas, like CsvFile;
        # lines with quotes go to the reference reader.
        quoting=csv.QUOTE_NONE,
        skip_blank_lines=False,
        engine="c",
    )
    return _Columns([frame[index].to_numpy() for index in range(len(HEADER))], limits)


class _Columns:
    """The plain lines' columns as codes into their distinct stripped values, and `_parse`'s reading of
    each distinct value (None where it fails), spread back to the lines by `flag` and `per_line`."""

    def __init__(self, raw: list[np.ndarray], limits: FieldLimits) -> None:
        self.raw, self.limits = raw, limits

    def keep(self, positions: np.ndarray) -> None:
        """Only the rows of these lines (the plain ones) are read further."""
        self.raw = [column[positions] for column in self.raw]

    def read(self) -> None:
        """Factorise each column and check every distinct value once."""
        values, limits = [], self.limits
        self.codes = []
        for column in self.raw:
            column_codes, uniques = pd.factorize(column, use_na_sentinel=False)
            self.codes.append(column_codes)
            values.append([value.strip() for value in uniques])
        self.values = values
        self.invoice_keys = list(map(normalise_key, values[INVOICE]))
        self.customer_keys = list(map(normalise_key, values[CUSTOMER]))
        # A quantity beyond the limit (or absurdly negative) is left to the reference, like a bad one.
        self.quantities = [
            quantity if quantity is not None and -(2**62) < quantity <= limits.quantity else None
            for quantity in (_parsed(parse_quantity, value) for value in values[QUANTITY])
        ]
        self.dates = [_parsed(_utc_datetime, value) for value in values[DATE]]
        self.prices = [_parsed(parse_price, value) for value in values[PRICE]]
        self.date_texts = [date.isoformat() if date else "" for date in self.dates]
        self.price_texts = [str(price) for price in self.prices]
        self.quantity_values = self.per_line(
            QUANTITY, [quantity or 0 for quantity in self.quantities], np.int64
        )

    def per_line(self, column: int, per_value: list[Any], dtype: type = bool) -> np.ndarray:
        return np.asarray(per_value, dtype=dtype)[self.codes[column]]

    def flag(self, column: int, test: Callable[[Any], bool], values: list[Any] | None = None) -> np.ndarray:
        return self.per_line(
            column, [test(value) for value in (self.values[column] if values is None else values)]
        )


def _classify(columns: _Columns, limits: FieldLimits) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Which plain lines are staged as they are and which are skipped, in `_parse`'s order of rules."""
    columns.read()
    cancellation = columns.flag(INVOICE, lambda key: key.startswith("C"), columns.invoice_keys)
    adjustment = ~cancellation & columns.flag(INVOICE, lambda key: key.startswith("A"), columns.invoice_keys)
    remaining = ~(cancellation | adjustment)
    no_customer = remaining & columns.flag(CUSTOMER, lambda key: not key, columns.customer_keys)
    remaining &= ~no_customer
    non_product = remaining & columns.flag(STOCK_CODE, lambda code: not is_product_code(code))
    remaining &= ~non_product
    # An empty invoice or an unparsable quantity, date or price is a rejection: the reference words it.
    parsed = (
        columns.flag(INVOICE, bool, columns.invoice_keys)
        & columns.flag(QUANTITY, lambda quantity: quantity is not None, columns.quantities)
        & columns.flag(DATE, lambda date: date is not None, columns.dates)
        & columns.flag(PRICE, lambda price: price is not None, columns.prices)
    )
    not_positive = remaining & parsed & (columns.quantity_values <= 0)
    # The cheap test of `FieldLimits.problem`; a line beyond a limit is left to the reference for its reason.
    fits = (
        columns.flag(CUSTOMER, lambda key: len(key) <= limits.customer, columns.customer_keys)
        & columns.flag(INVOICE, lambda key: len(key) <= limits.order, columns.invoice_keys)
        & columns.flag(STOCK_CODE, lambda code: len(code) <= limits.product)
        & columns.flag(COUNTRY, lambda country: len(country) <= limits.country)
        & columns.flag(PRICE, lambda price: price is not None and _price_fits(price, limits), columns.prices)
    )
    staged = remaining & parsed & ~not_positive & fits
    skipped = {
        "cancellation": cancellation,
        "adjustment": adjustment,
        "no customer": no_customer,
        "non-product code": non_product,
        "quantity not positive": not_positive,
    }
    return staged, skipped


def _parsed(parse: Callable[[str], Value], raw: str) -> Value | None:
    try:
        return parse(raw)
    except (ValueError, OverflowError):
        return None


def _utc_datetime(raw: str) -> datetime:
    placed_at = datetime.fromisoformat(raw)
    return placed_at.replace(tzinfo=UTC) if placed_at.tzinfo is None else placed_at.astimezone(UTC)


def _price_fits(price: Decimal, limits: FieldLimits) -> bool:
    probe = TransactionRow(
        line_no=0,
        customer="",
        order="",
        placed_at=datetime.min,
        product="",
        description="",
        quantity=0,
        unit_price=price,
        category="",
        country="",
    )
    return limits.problem(probe) is None


def _copy_text(columns: _Columns, staged: np.ndarray, line_numbers: np.ndarray) -> str:
    """COPY text rows in the staging table's column order; plain lines hold no tab, newline or backslash."""

    def texts(column: int, per_value: list[str]) -> np.ndarray:
        return np.asarray(per_value, dtype=object)[columns.codes[column][staged]]

    empty = [""] * len(line_numbers)
    fields = zip(
        map(str, line_numbers.tolist()),
        texts(CUSTOMER, columns.customer_keys),
        texts(INVOICE, columns.invoice_keys),
        texts(DATE, columns.date_texts),
        texts(STOCK_CODE, columns.values[STOCK_CODE]),
        texts(DESCRIPTION, columns.values[DESCRIPTION]),
        map(str, columns.quantity_values[staged].tolist()),
        texts(PRICE, columns.price_texts),
        empty,
        empty,
        texts(COUNTRY, columns.values[COUNTRY]),
        strict=True,
    )
    return "\n".join(map("\t".join, fields)) + "\n"


def _copy_line(row: TransactionRow) -> str:
    """One staged row as COPY text, escaped: a line read by the reference reader may hold anything."""
    values = (
        str(row.line_no),
        row.customer,
        row.order,
        row.placed_at.isoformat(),
        row.product,
        row.description,
        str(row.quantity),
        str(row.unit_price),
        "",
        "",
        row.country,
    )
    return "\t".join(map(_copy_escape, values)) + "\n"


def _copy_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _reference_row(line_no: int, text: str, limits: FieldLimits) -> TransactionRow | SkippedRow | RejectedRow:
    """The line as `CsvFile.records` and `read_online_retail` decide it (the same steps, for one line)."""
    if '"' in text:
        try:
            record = CsvFile._split(text)
        except csv.Error as exc:
            return RejectedRow(line_no, _csv_reason(exc), escape_nul(text))
    else:
        record = text.split(",") if text else []
    if "\x00" in text:
        column = next(index for index, value in enumerate(record) if "\x00" in value)
        name = f"{column + 1} ({HEADER[column]})" if column < len(HEADER) else str(column + 1)
        return RejectedRow(line_no, f"NUL byte in column {name}", raw_line(record))
    row = _parse(line_no, record)
    if isinstance(row, TransactionRow) and (problem := limits.problem(row)):
        return RejectedRow(line_no, problem, raw_line(record))
    return row
