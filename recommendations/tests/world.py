"""A small, deterministic world of retailers ordering on a rhythm, for pipeline tests.

Each retailer has a cadence and a set of staples; some products come in pairs bought together, so every model
of the hybrid has a signal to learn and the explanations have real co-purchases and cadences to cite.
"""

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from accounts.models import Retailer
from accounts.tests.factories import RetailerFactory
from catalog.models import Product
from catalog.tests.factories import CategoryFactory, ProductFactory
from orders.models import Order, OrderLine
from orders.services import orders_number_unnumbered
from vendors.tests.factories import VendorFactory

WORLD_START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@dataclass
class World:
    retailers: list[Retailer]
    products: list[Product]
    orders: int
    last_order_at: datetime


def build_world(*, retailers: int = 24, products: int = 30, orders_each: int = 8, seed: int = 7) -> World:
    rng = random.Random(seed)
    vendors = [VendorFactory() for _ in range(3)]
    categories = [CategoryFactory() for _ in range(3)]
    catalogue = [
        ProductFactory(
            vendor=vendors[i % 3],
            category=categories[i % 3],
            name=f"Product {i:02d}",
            unit_price=Decimal("1.50") + i,
            created_at=WORLD_START - timedelta(days=30),
        )
        for i in range(products)
    ]
    regions = ["Yorkshire", "Kent", "Devon"]
    shops = [RetailerFactory(region=regions[i % 3], name=f"Shop {i:02d}") for i in range(retailers)]

    orders: list[Order] = []
    baskets: list[list[tuple[Product, int]]] = []
    for index, shop in enumerate(shops):
        # Retailers of one region share a third of the catalogue, so neighbours and popularity agree.
        pool = catalogue[(index % 3) * (products // 3) : (index % 3 + 1) * (products // 3)]
        staples = rng.sample(pool, 4)
        cadence = rng.choice([7, 10, 14])
        placed = WORLD_START + timedelta(days=rng.randint(0, 6), hours=index)
        for _ in range(orders_each):
            chosen = {p for p in staples if rng.random() < 0.8}
            # Products come in pairs (0,1), (2,3), ...: the partner joins its pair mate most of the time.
            for product in sorted(chosen, key=lambda p: p.name):
                partner = catalogue[catalogue.index(product) ^ 1]
                if rng.random() < 0.7:
                    chosen.add(partner)
            chosen.add(rng.choice(catalogue))
            orders.append(Order(retailer=shop, status=Order.Status.PLACED, placed_at=placed))
            baskets.append([(p, rng.randint(1, 6)) for p in sorted(chosen, key=lambda p: p.name)])
            placed += timedelta(days=cadence + rng.randint(-1, 1))
    Order.objects.bulk_create(orders)
    orders_number_unnumbered()
    OrderLine.objects.bulk_create(
        OrderLine(order=order, product=product, quantity=quantity, unit_price=product.unit_price)
        for order, basket in zip(orders, baskets, strict=True)
        for product, quantity in basket
    )
    return World(shops, catalogue, len(orders), max(order.placed_at for order in orders))
