import factory
from django.utils import timezone

from accounts.tests.factories import RetailerFactory
from catalog.tests.factories import ProductFactory
from orders.models import ImportRun, Order, OrderLine
from orders.services import order_number_allocate
from vendors.tests.factories import VendorFactory


class OrderFactory(factory.django.DjangoModelFactory):
    """A placed order by default; `OrderFactory(basket=True)` is the retailer's open basket (draft)."""

    class Meta:
        model = Order

    retailer = factory.SubFactory(RetailerFactory)
    status = Order.Status.PLACED
    placed_at = factory.LazyFunction(timezone.now)
    # The retailer's next number, as placing gives it; a basket has none.
    number = factory.LazyAttribute(
        lambda order: (
            None
            if order.status == Order.Status.DRAFT
            else order_number_allocate(retailer_id=order.retailer.pk)
        )
    )

    class Params:
        basket = factory.Trait(status=Order.Status.DRAFT, placed_at=None)
        cancelled = factory.Trait(status=Order.Status.CANCELLED)


class OrderLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrderLine

    order = factory.SubFactory(OrderFactory)
    product = factory.SubFactory(ProductFactory)
    quantity = 1
    # The price the product had when ordered, as the portal records it.
    unit_price = factory.LazyAttribute(lambda line: line.product.unit_price)


class ImportRunFactory(factory.django.DjangoModelFactory):
    """A finished import of a small CSV file that created one order and rejected nothing."""

    class Meta:
        model = ImportRun

    source = "csv"
    path = factory.Sequence(lambda n: f"/data/import-{n}.csv")
    sha256 = factory.Sequence(lambda n: f"{n:064x}")
    vendor = factory.SubFactory(VendorFactory)
    counts = factory.LazyFunction(lambda: {"orders_created": 1, "rejected_total": 0})
    duration_seconds = 0.5
