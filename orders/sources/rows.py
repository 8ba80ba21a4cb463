"""Row types shared by every reader, the generic column mapping, field checks and the CSV line reader."""

import codecs
import csv
import gzip
import io
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

GZIP_MAGIC = b"\x1f\x8b"
SHOWN_CHARACTERS = 30
# An integer id written by a spreadsheet or a pandas export: `17850.0`.
ZERO_FRACTION = re.compile(r"(\d+)\.0+")


class SourceError(ValueError):
    """The input cannot be read at all (missing, empty, wrong header, bad encoding): nothing is imported."""


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
class FieldLimits:
    """The largest values the database stores for each field; the importer derives them from its columns.

    A row beyond them is rejected by the reader, so the bulk load never meets a value the database refuses.
    """

    customer: int
    order: int
    product: int
    category: int  # each of the two levels of `Department / Aisle`
    country: int
    quantity: int
    price_digits: int
    price_places: int

    def problem(self, row: TransactionRow) -> str | None:
        """Why the database would refuse the row, or None."""
        # One cheap test for the common case that every value fits; the details only for a row that does not.
        if (
            len(row.customer) <= self.customer
            and len(row.order) <= self.order
            and len(row.product) <= self.product
            and len(row.country) <= self.country
            and len(row.category) <= self.category
            and row.quantity <= self.quantity
            and (row.unit_price is None or self._price_fits(row.unit_price))
        ):
            return None
        for name, value, limit in (
            ("customer", row.customer, self.customer),
            ("order", row.order, self.order),
            ("product", row.product, self.product),
            ("country", row.country, self.country),
        ):
            if len(value) > limit:
                return f"{name} {shown(value)} has {len(value)} characters, more than the {limit} stored"
        for level in row.category.partition(" / ")[::2]:
            if len(level.strip()) > self.category:
                return (
                    f"category {shown(level.strip())} has {len(level.strip())} characters, "
                    f"more than the {self.category} stored"
                )
        if row.quantity > self.quantity:
            return f"quantity {row.quantity} is above the largest quantity stored ({self.quantity})"
        if row.unit_price is not None and not self._price_fits(row.unit_price):
            cent = Decimal(10) ** -self.price_places
            largest = Decimal(10) ** (self.price_digits - self.price_places) - cent
            return f"price {row.unit_price} is above the largest price stored ({largest})"
        return None

    def _price_fits(self, price: Decimal) -> bool:
        integer_digits = self.price_digits - self.price_places
        # Below 10^(digits - 1), rounding cannot reach the limit: no need to round (most prices).
        exponent = price.adjusted()
        if exponent < integer_digits - 1:
            return True
        # Checked before rounding: quantizing a huge number would exceed the decimal context's precision.
        if exponent >= integer_digits:
            return False
        # The database rounds half away from zero to the column's places, so 99999999.995 overflows there.
        rounded = abs(price).quantize(Decimal(10) ** -self.price_places, rounding=ROUND_HALF_UP)
        return rounded < Decimal(10) ** integer_digits


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


def normalise_key(raw: str) -> str:
    """A customer or order key as every reader stores it: trimmed, and `17850.0` written as `17850`.

    Spreadsheets and pandas write integer ids as floats; without this the same customer read from two
    exports would become two retailers. Leading zeros are kept: `0042` may be a real code.
    """
    key = raw.strip()
    if "." not in key:
        return key
    if key.endswith(".0") and key[:-2].isdecimal():  # the common case, without the regular expression
        return key[:-2]
    if match := ZERO_FRACTION.fullmatch(key):
        return match[1]
    return key


def shown(value: str) -> str:
    """A value quoted for a message, cut short so that a huge field does not flood the report."""
    if len(value) <= SHOWN_CHARACTERS:
        return repr(value)
    return repr(value[:SHOWN_CHARACTERS]) + "..."


def text_encoding(name: str) -> str:
    """The codec name for `name`; SourceError unless lines and commas are the same single bytes as ASCII."""
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        raise SourceError(f"unknown encoding {name!r}") from None
    try:
        compatible = b'\n,"'.decode(codec) == '\n,"'
    except UnicodeDecodeError:
        compatible = False
    if not compatible:
        raise SourceError(f"encoding {name!r} is not supported; convert the file to UTF-8 first")
    return codec


class CsvFile:
    """A CSV file (plain or gzipped) read one physical line at a time: `header`, then `records()`.

    Each line is parsed on its own so that a quote left open cannot swallow the following lines (see
    `orders.sources`), and a byte the encoding cannot read is reported with its line.
    """

    def __init__(self, path: Path, encoding: str = "utf-8") -> None:
        self.path = path
        self.encoding = text_encoding(encoding)
        self.header: list[str] = []
        self._text: io.TextIOWrapper | None = None

    def __enter__(self) -> "CsvFile":
        if not self.path.is_file():
            raise SourceError(f"{self.path} does not exist or is not a file")
        # Closed by __exit__, or here when the header cannot be read. Lines end at "\n" only (a "\r" before
        # it is stripped), as they do when the file is read as bytes to find an undecodable line.
        self._text = io.TextIOWrapper(self._open_binary(), encoding=self.encoding, newline="\n")
        try:
            self._read_header()
        except BaseException:
            self._text.close()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._text is not None:
            self._text.close()

    def records(self) -> Iterator[tuple[int, list[str]] | RejectedRow]:
        """(line number, fields) per data line, or a RejectedRow for a line that is not one CSV record."""
        assert self._text is not None
        line_no = 1
        try:
            for line in self._text:
                line_no += 1
                text = line.rstrip("\r\n")
                if '"' in text:
                    try:
                        record = self._split(text)
                    except csv.Error as exc:
                        yield RejectedRow(line_no, _csv_reason(exc), escape_nul(text))
                        continue
                else:
                    # Without a quote a record is its line split at the commas, exactly what csv.reader
                    # returns; the shortcut matters at hundreds of thousands of lines.
                    record = text.split(",") if text else []
                if "\x00" in text:
                    column = next(index for index, value in enumerate(record) if "\x00" in value)
                    reason = f"NUL byte in column {self._column_name(column)}"
                    yield RejectedRow(line_no, reason, raw_line(record))
                    continue
                yield line_no, record
        except UnicodeDecodeError:
            raise SourceError(self._decoding_message()) from None
        except (OSError, EOFError, zlib.error) as exc:
            raise SourceError(f"{self.path}: cannot be read after line {line_no}: {exc}") from None

    def _open_binary(self) -> BinaryIO:
        with self.path.open("rb") as probe:
            is_gzip = probe.read(2) == GZIP_MAGIC
        return gzip.open(self.path, "rb") if is_gzip else self.path.open("rb")  # type: ignore[return-value]

    def _read_header(self) -> None:
        assert self._text is not None
        try:
            first = self._text.readline().removeprefix("\ufeff")
            if not first.strip():
                if not any(line.strip() for line in self._text):
                    raise SourceError(f"{self.path} is empty: no header and no data")
                return
        except UnicodeDecodeError:
            raise SourceError(self._decoding_message()) from None
        except (OSError, EOFError, zlib.error) as exc:
            raise SourceError(f"{self.path}: cannot be read: {exc}") from None
        try:
            self.header = self._split(first.rstrip("\r\n"))
        except csv.Error as exc:
            raise SourceError(f"{self.path}: the header (line 1) is malformed: {_csv_reason(exc)}") from None

    def _column_name(self, index: int) -> str:
        name = self.header[index].strip() if index < len(self.header) else ""
        return f"{index + 1} ({name})" if name else str(index + 1)

    @staticmethod
    def _split(text: str) -> list[str]:
        if '"' not in text:
            return text.split(",") if text else []
        return next(csv.reader((text,), strict=True))

    def _decoding_message(self) -> str:
        """Name the first line that does not decode: the text reader decodes ahead by blocks, not by line."""
        with self._open_binary() as binary:
            for line_no, chunk in enumerate(binary, start=1):
                try:
                    chunk.decode(self.encoding)
                except UnicodeDecodeError as exc:
                    column = len(chunk[: exc.start].decode(self.encoding, errors="replace")) + 1
                    return (
                        f"{self.path}: line {line_no} is not valid {self.encoding}: byte "
                        f"0x{chunk[exc.start]:02x} at character {column}. If the file uses another "
                        "encoding, name it (e.g. --encoding latin-1)."
                    )
        # Only a multi-byte sequence cut by the end of the file decodes line by line yet not as a whole.
        return f"{self.path}: the file ends inside a character that is not valid {self.encoding}"


def _csv_reason(exc: csv.Error) -> str:
    if str(exc) == "unexpected end of data":
        return "unterminated quote: a quoted field must close on its own line"
    return f"malformed quoting ({exc})"


def escape_nul(text: str) -> str:
    # PostgreSQL stores no NUL character in text or JSON, not even in the report of the rejected row.
    return text.replace("\x00", "\\x00")


def raw_line(record: list[str]) -> str:
    """The record written back as one CSV line, for reporting a rejected row."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(record)
    return escape_nul(buffer.getvalue())


def parse_quantity(raw: str, label: str = "quantity") -> int:
    """An integer quantity; `3.0` is accepted, `2.5`, `NaN` and `inf` are not."""
    text = raw.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{label} {shown(raw)} is not a whole number") from None
    if not value.is_finite():
        raise ValueError(f"{label} {shown(raw)} is not a finite number")
    if value != value.to_integral_value():
        raise ValueError(f"{label} {shown(raw)} is not a whole number")
    return int(value)


def parse_price(raw: str, label: str = "price") -> Decimal:
    """A finite, non-negative decimal price."""
    try:
        value = Decimal(raw.strip())
    except InvalidOperation:
        raise ValueError(f"{label} {shown(raw)} is not a number") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"{label} {shown(raw)} is negative or not finite")
    return value
