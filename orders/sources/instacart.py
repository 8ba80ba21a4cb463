"""Reader for the Instacart Market Basket Analysis dataset (public Kaggle schema), given its folder.

Needs orders.csv, products.csv, aisles.csv, departments.csv and at least one of order_products__prior.csv /
order_products__train.csv (each may be gzipped, `name.csv.gz`). The dataset has no dates, so each order's
`placed_at` is synthesised: EPOCH (2017-01-01 UTC) + the user's cumulative `days_since_prior_order` up to that
order (orders sorted by `order_number`; empty for the first) + `order_hour_of_day` hours. Days between orders
are therefore real, absolute dates are not. Users are customers, `order_id` orders, `product_id` products
(name as description), category `department / aisle`. There is no quantity or price: every line is one unit at
an unknown price. Only orders.csv and products.csv are held in memory (two dicts); the order_products files,
tens of millions of lines, are streamed. Line numbers of yielded rows are those of the order_products file
being read; rejected rows from other files name their file in the reason.
"""

import csv
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .rows import RejectedRow, SourceError, SourceRow, TransactionRow, numbered_records, open_text, raw_line

EPOCH = datetime(2017, 1, 1, tzinfo=UTC)
ORDER_PRODUCT_FILES = ("order_products__prior", "order_products__train")


def _find(folder: Path, stem: str, *, required: bool = True) -> Path | None:
    for candidate in (folder / f"{stem}.csv", folder / f"{stem}.csv.gz"):
        if candidate.is_file():
            return candidate
    if required:
        raise SourceError(f"{folder}: missing {stem}.csv (or {stem}.csv.gz)")
    return None


def _records(path: Path, expected: list[str]) -> Iterator[tuple[int, list[str]]]:
    """Records of one file whose header must contain the expected columns, reordered to match them."""
    with open_text(path) as handle:
        reader = csv.reader(handle)
        header = [column.strip() for column in next(reader, None) or []]
        missing = [column for column in expected if column not in header]
        if missing:
            raise SourceError(f"{path.name}: missing columns {', '.join(missing)}")
        positions = [header.index(column) for column in expected]
        width = len(header)
        for line_no, record in numbered_records(reader):
            if len(record) != width:
                yield line_no, record  # the caller rejects it on the column count
            else:
                yield line_no, [record[position].strip() for position in positions]


def _names(path: Path, key: str, name: str, rejected: list[RejectedRow]) -> dict[str, str]:
    names: dict[str, str] = {}
    for line_no, record in _records(path, [key, name]):
        if len(record) != 2:
            rejected.append(RejectedRow(line_no, f"{path.name}: wrong column count", raw_line(record)))
        else:
            names[record[0]] = record[1]
    return names


def read_instacart(folder: Path) -> Iterator[SourceRow]:
    if not folder.is_dir():
        raise SourceError(f"{folder} is not a folder holding the Instacart CSV files")
    order_product_paths = [
        path for stem in ORDER_PRODUCT_FILES if (path := _find(folder, stem, required=False))
    ]
    if not order_product_paths:
        raise SourceError(f"{folder}: missing order_products__prior.csv and order_products__train.csv")
    rejected: list[RejectedRow] = []
    products = _products(folder, rejected)
    orders = _orders(_find(folder, "orders"), rejected)
    yield from rejected
    for path in order_product_paths:
        for line_no, record in _records(path, ["order_id", "product_id"]):
            if len(record) != 2:
                yield RejectedRow(line_no, f"{path.name}: wrong column count", raw_line(record))
                continue
            order_id, product_id = record
            order = orders.get(order_id)
            product = products.get(product_id)
            if order is None:
                yield RejectedRow(line_no, f"{path.name}: unknown order_id {order_id!r}", raw_line(record))
            elif product is None:
                yield RejectedRow(
                    line_no, f"{path.name}: unknown product_id {product_id!r}", raw_line(record)
                )
            else:
                yield TransactionRow(
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


def _products(folder: Path, rejected: list[RejectedRow]) -> dict[str, tuple[str, str]]:
    """product_id -> (name, "department / aisle")."""
    aisles = _names(_find(folder, "aisles"), "aisle_id", "aisle", rejected)
    departments = _names(_find(folder, "departments"), "department_id", "department", rejected)
    path = _find(folder, "products")
    products: dict[str, tuple[str, str]] = {}
    for line_no, record in _records(path, ["product_id", "product_name", "aisle_id", "department_id"]):
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


def _orders(path: Path, rejected: list[RejectedRow]) -> dict[str, tuple[str, datetime]]:
    """order_id -> (user_id, synthesised placed_at)."""
    columns = ["order_id", "user_id", "order_number", "order_hour_of_day", "days_since_prior_order"]
    by_user: dict[str, list[tuple[int, str, int, float]]] = {}
    for line_no, record in _records(path, columns):
        if len(record) != len(columns):
            rejected.append(RejectedRow(line_no, f"{path.name}: wrong column count", raw_line(record)))
            continue
        order_id, user_id, number, hour, days = record
        try:
            parsed = (int(number), order_id, int(hour), float(days) if days else 0.0)
        except ValueError:
            rejected.append(RejectedRow(line_no, f"{path.name}: non-numeric order field", raw_line(record)))
            continue
        by_user.setdefault(user_id, []).append(parsed)
    orders: dict[str, tuple[str, datetime]] = {}
    for user_id, user_orders in by_user.items():
        elapsed_days = 0.0
        for _number, order_id, hour, days in sorted(user_orders):
            elapsed_days += days
            orders[order_id] = (user_id, EPOCH + timedelta(days=elapsed_days, hours=hour))
    return orders
