from decimal import Decimal

import factory
from django.utils import timezone

from catalog.models import Category, Product
from vendors.tests.factories import VendorFactory


class CategoryFactory(factory.django.DjangoModelFactory):
    """A top-level department by default; pass `parent=` (or `child=True`) for a category inside one."""

    class Meta:
        model = Category

    name = factory.Sequence(lambda n: f"Category {n}")
    parent = None

    class Params:
        child = factory.Trait(parent=factory.SubFactory("catalog.tests.factories.CategoryFactory"))


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    vendor = factory.SubFactory(VendorFactory)
    sku = factory.Sequence(lambda n: f"SKU-{n:06d}")
    name = factory.Sequence(lambda n: f"Product {n}")
    category = factory.SubFactory(CategoryFactory)
    unit_price = Decimal("2.50")
    pack_size = 1
    is_active = True
    created_at = factory.LazyFunction(timezone.now)
