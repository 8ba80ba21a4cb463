"""Writes to baskets and orders. A basket is the retailer's one draft Order."""

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from accounts.mail.services import order_confirmation_enqueue
from accounts.models import Retailer
from catalog.models import Product
from orders.models import MAX_LINE_QUANTITY, Order, OrderLine, OrderNumberCounter
from recommendations.interface import retailer_refresh_enqueue


@dataclass
class ReorderResult:
    added: list[Product] = field(default_factory=list)
    skipped: list[Product] = field(default_factory=list)


def _validate_quantity(quantity: int, *, allow_zero: bool = False) -> None:
    minimum = 0 if allow_zero else 1
    if not minimum <= quantity <= MAX_LINE_QUANTITY:
        raise ValidationError(
            f"Quantity must be between {minimum} and {MAX_LINE_QUANTITY}.", code="invalid_quantity"
        )


def _locked_basket(*, retailer: Retailer) -> Order:
    """The basket, row-locked so concurrent edits of one basket run one after the other."""
    basket = basket_get_or_create(retailer=retailer)
    return Order.objects.select_for_update().get(pk=basket.pk)


def _lock_open_basket(*, order_id: int) -> None:
    """Lock the line's order, refusing to edit an order that is no longer a basket."""
    if not Order.objects.select_for_update().filter(pk=order_id, status=Order.Status.DRAFT).exists():
        raise ValidationError(
            "This order has already been placed; it can no longer be changed.", code="not_a_basket"
        )


@transaction.atomic
def basket_get_or_create(*, retailer: Retailer) -> Order:
    # get_or_create retries the read when a concurrent request wins the insert: the partial unique constraint
    # on draft orders turns that race into an IntegrityError instead of a second basket.
    basket, _created = Order.objects.get_or_create(retailer=retailer, status=Order.Status.DRAFT)
    return basket


@transaction.atomic
def basket_add_product(*, retailer: Retailer, product: Product, quantity: int = 1) -> OrderLine:
    """Add to the basket, merging with a line of the same product; the line takes the current price."""
    _validate_quantity(quantity)
    if not product.is_active:
        raise ValidationError(f"{product.name} is no longer available.", code="inactive_product")
    basket = _locked_basket(retailer=retailer)
    line = OrderLine.objects.filter(order=basket, product=product).first()
    if line is None:
        return OrderLine.objects.create(
            order=basket, product=product, quantity=quantity, unit_price=product.unit_price
        )
    new_quantity = line.quantity + quantity
    _validate_quantity(new_quantity)
    line.quantity = new_quantity
    line.unit_price = product.unit_price
    line.save(update_fields=["quantity", "unit_price"])
    return line


@transaction.atomic
def basket_set_quantity(*, line: OrderLine, quantity: int) -> OrderLine | None:
    """Set a basket line's quantity; zero removes the line (returns None)."""
    _validate_quantity(quantity, allow_zero=True)
    _lock_open_basket(order_id=line.order_id)
    if quantity == 0:
        line.delete()
        return None
    line.quantity = quantity
    line.save(update_fields=["quantity"])
    return line


@transaction.atomic
def basket_set_product_quantity(*, retailer: Retailer, product: Product, quantity: int) -> OrderLine | None:
    """Set how many of a product the basket holds (the mobile API's "set" mode); zero removes it."""
    _validate_quantity(quantity, allow_zero=True)
    basket = _locked_basket(retailer=retailer)
    line = OrderLine.objects.filter(order=basket, product=product).first()
    if line is not None:
        return basket_set_quantity(line=line, quantity=quantity)
    if quantity == 0:
        return None
    return basket_add_product(retailer=retailer, product=product, quantity=quantity)


@transaction.atomic
def basket_remove_line(*, line: OrderLine) -> None:
    _lock_open_basket(order_id=line.order_id)
    line.delete()


@transaction.atomic
def order_place(*, order: Order) -> Order:
    """Turn the basket into a placed order at today's prices and ask for fresh recommendations."""
    order = Order.objects.select_for_update().get(pk=order.pk)
    if order.status != Order.Status.DRAFT:
        raise ValidationError("This order has already been placed.", code="not_a_basket")
    lines = list(order.lines.select_related("product"))
    if not lines:
        raise ValidationError("Your basket is empty: add products before placing the order.", code="empty")
    unavailable = sorted(line.product.name for line in lines if not line.product.is_active)
    if unavailable:
        raise ValidationError(
            "No longer available, remove before placing: %(names)s.",
            code="inactive_product",
            params={"names": ", ".join(unavailable)},
        )
    for line in lines:
        line.unit_price = line.product.unit_price
    OrderLine.objects.bulk_update(lines, ["unit_price"])
    order.status = Order.Status.PLACED
    order.placed_at = timezone.now()
    order.number = order_number_allocate(retailer_id=order.retailer_id)
    order.save(update_fields=["status", "placed_at", "number", "updated_at"])
    retailer_refresh_enqueue(retailer_id=order.retailer_id)
    order_confirmation_enqueue(order=order)
    return order


@transaction.atomic
def order_reorder(*, retailer: Retailer, order: Order) -> ReorderResult:
    """Copy a past order's lines into the basket, merging with lines there; skip discontinued products."""
    basket = _locked_basket(retailer=retailer)
    existing = {line.product_id: line for line in basket.lines.all()}
    result = ReorderResult()
    to_create: list[OrderLine] = []
    to_update: list[OrderLine] = []
    for past_line in order.lines.select_related("product"):
        product = past_line.product
        if not product.is_active:
            result.skipped.append(product)
            continue
        line = existing.get(product.pk)
        if line is None:
            to_create.append(
                OrderLine(
                    order=basket, product=product, quantity=past_line.quantity, unit_price=product.unit_price
                )
            )
        else:
            line.quantity = min(line.quantity + past_line.quantity, MAX_LINE_QUANTITY)
            line.unit_price = product.unit_price
            to_update.append(line)
        result.added.append(product)
    OrderLine.objects.bulk_create(to_create)
    OrderLine.objects.bulk_update(to_update, ["quantity", "unit_price"])
    return result


@transaction.atomic
def basket_clear(*, retailer: Retailer) -> None:
    """Remove every line of the open basket (the basket itself stays, empty)."""
    basket = _locked_basket(retailer=retailer)
    basket.lines.all().delete()


@transaction.atomic
def order_number_allocate(*, retailer_id: int) -> int:
    """The retailer's next order number, for an order being placed in the caller's transaction.

    The counter row stays locked until that transaction ends, so a concurrent placing by the same retailer
    waits and takes the next number; a rolled-back placing gives its number back. The first placing of a
    retailer creates the row: of two at once, get_or_create's insert fails for one, which then reads (and
    locks) the row the other made.
    """
    counter, _created = OrderNumberCounter.objects.select_for_update().get_or_create(retailer_id=retailer_id)
    counter.last_number += 1
    counter.save(update_fields=["last_number"])
    return counter.last_number


@transaction.atomic
def orders_number_unnumbered() -> int:
    """Number every placed or cancelled order that has no number yet, in placed order per retailer, after
    the numbers the retailer already has; returns how many were numbered.

    Set-based for the bulk writers (the importer, the demo world): a handful of statements whatever the
    number of orders, on PostgreSQL and SQLite alike. The counters of the retailers concerned are locked
    first, in id order (so two callers cannot deadlock), which makes portal placings wait for the commit.
    """
    pending = "SELECT DISTINCT retailer_id FROM orders_order WHERE number IS NULL AND status <> 'draft'"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO orders_ordernumbercounter (retailer_id, last_number) SELECT retailer_id, 0 "
            f"FROM ({pending}) AS pending WHERE TRUE ON CONFLICT DO NOTHING"
        )
        if connection.vendor == "postgresql":
            # SQLite has no row locks: its writers already run one at a time.
            cursor.execute(
                f"SELECT retailer_id FROM orders_ordernumbercounter WHERE retailer_id IN ({pending}) "
                "ORDER BY retailer_id FOR UPDATE"
            )
        cursor.execute("DROP TABLE IF EXISTS order_numbering")
        cursor.execute(
            """
            CREATE TEMPORARY TABLE order_numbering AS
            SELECT placed.id, placed.retailer_id,
                   counter.last_number + ROW_NUMBER() OVER (
                       PARTITION BY placed.retailer_id ORDER BY placed.placed_at, placed.id
                   ) AS number
            FROM orders_order AS placed
            JOIN orders_ordernumbercounter AS counter ON counter.retailer_id = placed.retailer_id
            WHERE placed.number IS NULL AND placed.status <> 'draft'
            """
        )
        cursor.execute(
            "UPDATE orders_order SET number = numbering.number FROM order_numbering AS numbering "
            "WHERE orders_order.id = numbering.id"
        )
        numbered = cursor.rowcount
        cursor.execute(
            """
            UPDATE orders_ordernumbercounter SET last_number = highest.number
            FROM (
                SELECT retailer_id, MAX(number) AS number FROM order_numbering GROUP BY retailer_id
            ) AS highest
            WHERE orders_ordernumbercounter.retailer_id = highest.retailer_id
            """
        )
        cursor.execute("DROP TABLE order_numbering")
    return numbered
