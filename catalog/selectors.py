"""Reads of the catalogue as one retailer sees it: filtered, sorted search and its purchase history."""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery

from accounts.models import Retailer
from catalog.models import Category, Product
from orders.models import Order, OrderLine


class Sort:
    NAME = "name"
    PRICE = "price"
    PRICE_DESC = "-price"
    NEWEST = "newest"
    POPULARITY = "popularity"

    CHOICES = [
        (NAME, "Name"),
        (PRICE, "Price: low to high"),
        (PRICE_DESC, "Price: high to low"),
        (NEWEST, "Newest"),
        (POPULARITY, "Most ordered"),
    ]


class Bought:
    ANY = ""
    NEVER = "never"
    BEFORE = "before"

    CHOICES = [(ANY, "Any"), (NEVER, "Never bought"), (BEFORE, "Bought before")]


@dataclass(frozen=True)
class ProductFilters:
    query: str = ""
    category_id: int | None = None
    vendor_id: int | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    bought: str = Bought.ANY
    sort: str = Sort.NAME


_ORDERING = {
    Sort.NAME: ["name", "id"],
    Sort.PRICE: ["unit_price", "name", "id"],
    Sort.PRICE_DESC: ["-unit_price", "name", "id"],
    Sort.NEWEST: ["-created_at", "-id"],
    Sort.POPULARITY: ["-popularity", "name", "id"],
}


def _placed_lines_of(retailer: Retailer) -> QuerySet[OrderLine]:
    return OrderLine.objects.filter(order__retailer=retailer, order__status=Order.Status.PLACED)


def product_search(
    *, retailer: Retailer, filters: ProductFilters, with_history: bool = True
) -> QuerySet[Product]:
    """Active products matching the filters, each annotated with what this retailer did with it.

    `bought_before` and `in_basket` are correlated subqueries on indexed columns, so a page of cards costs one
    query however many products it shows. `with_history=False` leaves them out (the API's product shows
    neither) unless the `bought` filter needs `bought_before`.
    """
    products = Product.objects.filter(is_active=True).select_related("vendor", "category", "category__parent")
    if with_history or filters.bought != Bought.ANY:
        products = products.annotate(
            bought_before=Exists(_placed_lines_of(retailer).filter(product=OuterRef("pk")))
        )
    if with_history:
        products = products.annotate(
            in_basket=Subquery(
                OrderLine.objects.filter(
                    order__retailer=retailer, order__status=Order.Status.DRAFT, product=OuterRef("pk")
                ).values("quantity")[:1]
            )
        )
    for term in filters.query.split():
        products = products.filter(Q(name__icontains=term) | Q(sku__iexact=term))
    if filters.category_id is not None:
        # A department matches the products of all its categories too.
        products = products.filter(
            Q(category_id=filters.category_id) | Q(category__parent_id=filters.category_id)
        )
    if filters.vendor_id is not None:
        products = products.filter(vendor_id=filters.vendor_id)
    if filters.min_price is not None:
        products = products.filter(unit_price__gte=filters.min_price)
    if filters.max_price is not None:
        products = products.filter(unit_price__lte=filters.max_price)
    if filters.bought == Bought.NEVER:
        products = products.filter(bought_before=False)
    elif filters.bought == Bought.BEFORE:
        products = products.filter(bought_before=True)
    sort = filters.sort if filters.sort in _ORDERING else Sort.NAME
    if sort == Sort.POPULARITY:
        # Only this sort pays for counting every placed line of the products on the page.
        products = products.annotate(
            popularity=Count("order_lines", filter=Q(order_lines__order__status=Order.Status.PLACED))
        )
    return products.order_by(*_ORDERING[sort])


def category_tree() -> list[Category]:
    """Departments, each with its categories prefetched, for a grouped filter menu."""
    return list(Category.objects.filter(parent__isnull=True).prefetch_related("children"))


def product_for_catalogue(*, product_id: int) -> Product | None:
    """Any product, discontinued ones too: the retailer may follow a link from an old order."""
    return (
        Product.objects.select_related("vendor", "category", "category__parent").filter(pk=product_id).first()
    )


def product_purchase_history(*, retailer: Retailer, product: Product) -> QuerySet[OrderLine]:
    """This retailer's placed lines of the product, newest first: all of them, for the caller to paginate."""
    return (
        _placed_lines_of(retailer)
        .filter(product=product)
        .select_related("order")
        .order_by("-order__placed_at", "-order_id")
    )
