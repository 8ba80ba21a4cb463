"""Writes to baskets and orders. A basket is the retailer's one draft Order."""

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.mail.services import order_confirmation_enqueue
from accounts.models import Retailer
from catalog.models import Product
from orders.models import MAX_LINE_QUANTITY, Order, OrderLine
from recommendations.services import retailer_refresh_enqueue


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
    order.save(update_fields=["status", "placed_at", "updated_at"])
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
