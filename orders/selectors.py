"""Reads of one retailer's basket and orders; every function is scoped by the retailer passed in."""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Count, DecimalField, Exists, F, OuterRef, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from accounts.models import Retailer
from orders.models import Order, OrderLine

_MONEY = DecimalField(max_digits=14, decimal_places=2)


@dataclass(frozen=True)
class BasketSummary:
    basket: Order | None
    lines: list[OrderLine]

    @property
    def total(self) -> Decimal:
        return sum((line.line_total for line in self.lines), Decimal("0.00"))

    @property
    def item_count(self) -> int:
        return sum(line.quantity for line in self.lines)

    @property
    def product_ids(self) -> list[int]:
        return [line.product_id for line in self.lines]

    @property
    def has_unavailable(self) -> bool:
        return any(not line.product.is_active for line in self.lines)


def basket_for(*, retailer: Retailer) -> Order | None:
    return Order.objects.filter(retailer=retailer, status=Order.Status.DRAFT).first()


def basket_summary(*, retailer: Retailer) -> BasketSummary:
    """The basket and its lines with products, in two queries however many lines it has."""
    basket = basket_for(retailer=retailer)
    if basket is None:
        return BasketSummary(basket=None, lines=[])
    lines = list(
        basket.lines.select_related("product", "product__vendor", "product__category").order_by("id")
    )
    return BasketSummary(basket=basket, lines=lines)


def basket_line_count(*, retailer: Retailer) -> int:
    """How many different products are in the basket (the number next to "Basket" in the navigation)."""
    return OrderLine.objects.filter(order__retailer=retailer, order__status=Order.Status.DRAFT).count()


def basket_line_for(*, retailer: Retailer, line_id: int) -> OrderLine | None:
    return (
        OrderLine.objects.select_related("product")
        .filter(pk=line_id, order__retailer=retailer, order__status=Order.Status.DRAFT)
        .first()
    )


def orders_for_retailer(
    *,
    retailer: Retailer,
    query: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
    status: str | None = None,
) -> QuerySet[Order]:
    """Placed and cancelled orders (or only those of `status`), newest first, each annotated with its total
    and line count.

    `query` matches an order number ("42" or "#42", the retailer's own) or part of a product name on any of
    its lines.
    """
    orders = (
        Order.objects.filter(retailer=retailer)
        .exclude(status=Order.Status.DRAFT)
        .annotate(
            total_amount=Coalesce(
                Sum(F("lines__quantity") * F("lines__unit_price"), output_field=_MONEY),
                Value(Decimal("0.00"), output_field=_MONEY),
            ),
            line_count=Count("lines"),
        )
    )
    if status is not None:
        orders = orders.filter(status=status)
    if date_from is not None:
        orders = orders.filter(placed_at__date__gte=date_from)
    if date_to is not None:
        orders = orders.filter(placed_at__date__lte=date_to)
    query = query.strip()
    if query:
        matches_product = Exists(
            OrderLine.objects.filter(order=OuterRef("pk"), product__name__icontains=query)
        )
        number = query.removeprefix("#")
        condition = Q(matches_product)
        if number.isdigit() and len(number) <= 9:
            condition |= Q(number=int(number))
        orders = orders.filter(condition)
    return orders.order_by("-placed_at", "-id")


def order_for_retailer(*, retailer: Retailer, order_id: int) -> Order | None:
    """A placed or cancelled order of this retailer; the basket is reached through basket_summary instead."""
    return Order.objects.filter(retailer=retailer, pk=order_id).exclude(status=Order.Status.DRAFT).first()


def order_lines(*, order: Order) -> list[OrderLine]:
    return list(order.lines.select_related("product", "product__vendor", "product__category").order_by("id"))
