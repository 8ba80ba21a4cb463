"""Reader for the Instacart Market Basket Analysis dataset (public Kaggle schema), given its folder.

Needs orders.csv, products.csv, aisles.csv, departments.csv and at least one of order_products__prior.csv /
order_products__train.csv (each may be gzipped, `name.csv.gz`). The dataset has no dates, so each order's
`placed_at` is synthesised: EPOCH (2017-01-01 UTC) + the user's cumulative `days_since_prior_order` up to that
order (orders sorted by `order_number`; empty for the first) + `order_hour_of_day` hours. Days between orders
are therefore real, absolute dates are not. Users are customers, `order_id` orders, `product_id` products
(name as description), category `department / aisle`. There is no quantity or price: every line is one unit at
an unknown price. Only orders.csv and products.csv are held in memory (two dicts); the order_products files,
tens of millions of lines, are streamed. Line numbers of yielded rows are those of the order_products file
being read; rejected rows from other files name their file in the reason. user_id and order_id go through
`normalise_key` (`17850.0` becomes `17850`).
"""

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .rows import (
    CsvFile,
    FieldLimits,
    RejectedRow,
    SourceError,
    SourceRow,
    TransactionRow,
    normalise_key,
    raw_line,
)

EPOCH = datetime(2017, 1, 1, tzinfo=UTC)
ORDER_PRODUCT_FILES = ("order_products__prior", "order_products__train")
# The last whole day a synthesised date may start on (a day short, for the hours and float rounding).
MAX_DAYS = (datetime.max.replace(tzinfo=UTC) - EPOCH).days - 1


def _find(folder: Path, stem: str, *, required: bool = True) -> Path | None:
    for candidate in (folder / f"{stem}.csv", folder / f"{stem}.csv.gz"):
        if candidate.is_file():
            return candidate
    if required:
        raise SourceError(f"{folder}: missing {stem}.csv (or {stem}.csv.gz)")
    return None


def _records(path: Path, expected: list[str], encoding: str) -> Iterator[tuple[int, list[str]] | RejectedRow]:
    """Records of one file whose header must contain the expected columns, reordered to match them.

    A record of the wrong width is passed through whole: the caller rejects it on its column count.
    """
    with CsvFile(path, encoding) as source:
        header = [column.strip() for column in source.header]
        missing = [column for column in expected if column not in header]
        if missing:
            raise SourceError(f"{path.name}: missing columns {', '.join(missing)}")
        positions = [header.index(column) for column in expected]
        width = len(header)
        for item in source.records():
            if isinstance(item, RejectedRow):
                yield RejectedRow(item.line_no, f"{path.name}: {item.reason}", item.raw)
                continue
            line_no, record = item
            if len(record) != width:
                yield line_no, record
            else:
                yield line_no, [record[position].strip() for position in positions]


def _names(path: Path, key: str, name: str, rejected: list[RejectedRow], encoding: str) -> dict[str, str]:
    names: dict[str, str] = {}
    for item in _records(path, [key, name], encoding):
        if isinstance(item, RejectedRow):
            rejected.append(item)
            continue
        line_no, record = item
        if len(record) != 2:
            rejected.append(RejectedRow(line_no, f"{path.name}: wrong column count", raw_line(record)))
        else:
            names[record[0]] = record[1]
    return names


def read_instacart(
    folder: Path, *, encoding: str = "utf-8", limits: FieldLimits | None = None
) -> Iterator[SourceRow]:
    if not folder.is_dir():
        raise SourceError(f"{folder} is not a folder holding the Instacart CSV files")
    order_product_paths = [
        path for stem in ORDER_PRODUCT_FILES if (path := _find(folder, stem, required=False))
    ]
    if not order_product_paths:
        raise SourceError(f"{folder}: missing order_products__prior.csv and order_products__train.csv")
    rejected: list[RejectedRow] = []
    products = _products(folder, rejected, encoding)
    orders = _orders(_find(folder, "orders"), rejected, encoding)
    yield from rejected
    for path in order_product_paths:
        for item in _records(path, ["order_id", "product_id"], encoding):
            if isinstance(item, RejectedRow):
                yield item
                continue
            line_no, record = item
            if len(record) != 2:
                yield RejectedRow(line_no, f"{path.name}: wrong column count", raw_line(record))
                continue
            order_id, product_id = normalise_key(record[0]), record[1]
            order = orders.get(order_id)
            product = products.get(product_id)
            if order is None:
                yield RejectedRow(line_no, f"{path.name}: unknown order_id {order_id!r}", raw_line(record))
                continue
            if product is None:
                yield RejectedRow(
                    line_no, f"{path.name}: unknown product_id {product_id!r}", raw_line(record)
                )
                continue
            row = TransactionRow(
                line_no=line_no,
                customer=order[0],
                order=order_id,
                placed_at=order[1],
                product=product_id,
                description=product[0],
                quantity=1,
                unit_price=None,
                category=product[1],
                country="",
            )
            if limits and (problem := limits.problem(row)):
                yield RejectedRow(line_no, f"{path.name}: {problem}", raw_line(record))
            else:
                yield row


def _products(folder: Path, rejected: list[RejectedRow], encoding: str) -> dict[str, tuple[str, str]]:
    """product_id -> (name, "department / aisle")."""
    aisles = _names(_find(folder, "aisles"), "aisle_id", "aisle", rejected, encoding)
    departments = _names(_find(folder, "departments"), "department_id", "department", rejected, encoding)
    path = _find(folder, "products")
    products: dict[str, tuple[str, str]] = {}
    for item in _records(path, ["product_id", "product_name", "aisle_id", "department_id"], encoding):
        if isinstance(item, RejectedRow):
            rejected.append(item)
            continue
        line_no, record = item
        if len(record) != 4:
            rejected.append(RejectedRow(line_no, f"{path.name}: wrong column count", raw_line(record)))
            continue
        product_id, name, aisle_id, department_id = record
        if aisle_id not in aisles or department_id not in departments:
            rejected.append(
                RejectedRow(line_no, f"{path.name}: unknown aisle or department", raw_line(record))
            )
            continue
        products[product_id] = (name, f"{departments[department_id]} / {aisles[aisle_id]}")
    return products


def _orders(path: Path, rejected: list[RejectedRow], encoding: str) -> dict[str, tuple[str, datetime]]:
    """order_id -> (user_id, synthesised placed_at)."""
    columns = ["order_id", "user_id", "order_number", "order_hour_of_day", "days_since_prior_order"]
    by_user: dict[str, list[tuple[int, str, int, float]]] = {}
    # Whatever the order of a user's orders, their dates stay below the total of their gaps: keeping that
    # total within the calendar here rejects the culprit with its line, and the dates below cannot overflow.
    total_days: dict[str, float] = {}
    for item in _records(path, columns, encoding):
        if isinstance(item, RejectedRow):
            rejected.append(item)
            continue
        line_no, record = item
        if len(record) != len(columns):
            rejected.append(RejectedRow(line_no, f"{path.name}: wrong column count", raw_line(record)))
            continue
        order_id, user_id = normalise_key(record[0]), normalise_key(record[1])
        number, hour, days = record[2:]
        try:
            parsed = (int(number), order_id, int(hour), float(days) if days else 0.0)
        except ValueError:
            rejected.append(RejectedRow(line_no, f"{path.name}: non-numeric order field", raw_line(record)))
            continue
        problem = _order_problem(parsed[2], parsed[3], total_days.get(user_id, 0.0))
        if problem:
            rejected.append(RejectedRow(line_no, f"{path.name}: {problem}", raw_line(record)))
            continue
        total_days[user_id] = total_days.get(user_id, 0.0) + parsed[3]
        by_user.setdefault(user_id, []).append(parsed)
    orders: dict[str, tuple[str, datetime]] = {}
    for user_id, user_orders in by_user.items():
        elapsed_days = 0.0
        for _number, order_id, hour, days in sorted(user_orders):
            elapsed_days += days
            orders[order_id] = (user_id, EPOCH + timedelta(days=elapsed_days, hours=hour))
    return orders


def _order_problem(hour: int, days: float, user_days: float) -> str | None:
    if not 0 <= hour <= 23:
        return f"order_hour_of_day {hour} is not between 0 and 23"
    if not math.isfinite(days) or days < 0:
        return f"days_since_prior_order {days} is not a positive number of days"
    if user_days + days > MAX_DAYS:
        return "days_since_prior_order: the user's orders would run past the year 9999"
    return None
