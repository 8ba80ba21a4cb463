"""A seeded, deterministic demo world: vendors, a two-level catalogue, retailers and their order history.

The history has structure a recommender can learn, each piece simulated explicitly:
- staples: every retailer reorders a personal set of products, each on its own cadence (with jitter);
- bundles: fixed groups of products that are bought together (a bundle item pulls its partners in);
- segment affinities: a café buys mostly drinks and bakery, a gift shop mostly gifts and seasonal lines;
- seasonality (summer drinks and ice cream, Christmas lines in Nov-Dec) and growth (orders get larger and
  more frequent over time, retailers join at different dates);
- new products arrive throughout the period; the most recent ones have few or no sales;
- the demo vendor's story (DemoStory), for its analytics pages: it sells the seasonal departments (summer
  drinks and ice cream, winter hot drinks), one of its products is taken up by more and more retailers
  (rising), one is dropped by its buyers (falling), and one is never bought in one region although that
  region's retailers buy the products it is bought together with (a distribution gap).
Given the same arguments and the same day, the world is the same. Demo rows are marked so `--reset` can
remove them: vendor slugs start with `demo-`, retailer external refs with `demo:`, orders have source `demo`.
"""

import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import F
from faker import Faker

from accounts.models import Retailer, User
from catalog.models import Category, Product
from orders.models import Order, OrderLine
from orders.services import orders_number_unnumbered
from vendors.models import Vendor

DEMO_SOURCE = "demo"
DEMO_PASSWORD = "smartbasket-demo"
DEMO_USERNAMES = {"retailer": "demo-retailer", "vendor": "demo-vendor", "staff": "demo-staff"}

# department -> category -> (items, pack sizes, unit price range in GBP, season)
CATALOGUE: dict[str, dict[str, tuple[list[str], list[int], tuple[float, float], str]]] = {
    "Drinks": {
        "Soft drinks": (
            ["Cola", "Lemonade", "Orange Soda", "Ginger Beer", "Cherry Cola", "Cloudy Apple"],
            [12, 24],
            (0.45, 1.1),
            "summer",
        ),
        "Water": (
            ["Still Spring Water", "Sparkling Water", "Flavoured Water Lime"],
            [12, 24],
            (0.3, 0.8),
            "summer",
        ),
        "Coffee & tea": (
            [
                "Ground Coffee",
                "Coffee Beans",
                "English Breakfast Tea",
                "Green Tea",
                "Earl Grey",
                "Hot Chocolate",
            ],
            [6, 12],
            (2.5, 7.5),
            "winter",
        ),
        "Juices": (
            ["Orange Juice", "Apple Juice", "Tropical Juice", "Smoothie Berry"],
            [6, 12],
            (1.0, 2.8),
            "",
        ),
    },
    "Bakery": {
        "Bread": (
            ["White Loaf", "Wholemeal Loaf", "Sourdough", "Seeded Batch", "Bagels"],
            [6, 12],
            (0.9, 2.6),
            "",
        ),
        "Cakes & pastries": (
            ["Croissants", "Pain au Chocolat", "Blueberry Muffins", "Carrot Cake", "Flapjacks"],
            [6, 12],
            (0.6, 2.2),
            "",
        ),
        "Biscuits": (
            ["Digestives", "Shortbread", "Chocolate Cookies", "Ginger Nuts", "Oat Biscuits"],
            [12, 24],
            (0.6, 1.8),
            "",
        ),
    },
    "Fresh & chilled": {
        "Dairy": (
            ["Semi-Skimmed Milk", "Oat Milk", "Greek Yoghurt", "Cheddar", "Butter", "Double Cream"],
            [6, 12],
            (0.8, 3.5),
            "",
        ),
        "Ice cream": (
            ["Vanilla Ice Cream", "Choc Ice", "Strawberry Lolly", "Mint Choc Tub"],
            [12, 24],
            (0.8, 3.0),
            "summer",
        ),
        "Sandwich fillers": (["Sliced Ham", "Egg Mayo", "Tuna Mayo", "Hummus"], [6], (1.2, 2.8), ""),
    },
    "Grocery": {
        "Pasta & rice": (
            ["Penne", "Spaghetti", "Basmati Rice", "Risotto Rice", "Egg Noodles"],
            [6, 12],
            (0.7, 2.4),
            "",
        ),
        "Tins & jars": (
            ["Chopped Tomatoes", "Baked Beans", "Chickpeas", "Pasta Sauce", "Peanut Butter"],
            [12, 24],
            (0.5, 2.5),
            "",
        ),
        "Snacks": (
            ["Ready Salted Crisps", "Salted Peanuts", "Tortilla Chips", "Popcorn", "Pretzels"],
            [24, 48],
            (0.4, 1.4),
            "",
        ),
        "Confectionery": (
            ["Milk Chocolate Bar", "Fruit Gums", "Mints", "Caramel Bar", "Sour Sweets"],
            [24, 48],
            (0.4, 1.2),
            "",
        ),
    },
    "Household": {
        "Cleaning": (
            ["Washing-Up Liquid", "Surface Spray", "Bleach", "Bin Bags", "Dishwasher Tablets"],
            [6, 12],
            (0.8, 4.5),
            "",
        ),
        "Paper goods": (
            ["Toilet Roll", "Kitchen Roll", "Napkins", "Paper Cups", "Coffee Filters"],
            [6, 12, 24],
            (0.5, 3.5),
            "",
        ),
    },
    "Gifts & seasonal": {
        "Candles & home": (
            ["Scented Candle", "Tea Light Set", "Photo Frame", "Ceramic Mug", "Cushion Cover"],
            [4, 6],
            (2.0, 9.0),
            "",
        ),
        "Cards & wrap": (
            ["Birthday Card", "Gift Wrap Roll", "Gift Bag", "Thank You Card"],
            [6, 12],
            (0.8, 3.0),
            "",
        ),
        "Christmas": (
            ["Christmas Crackers", "Advent Calendar", "Bauble Set", "Mince Pies", "Festive Lights"],
            [6, 12],
            (2.0, 8.0),
            "christmas",
        ),
    },
}
BRANDS = [
    "Brightwell",
    "Hartley & Co",
    "Meadowgate",
    "Kestrel",
    "Old Mill",
    "Blue Harbour",
    "Fenwick",
    "Larkspur",
]
VARIANTS = ["", "Classic", "Organic", "Family", "Value", "Premium", "Light", "Original"]
REGIONS = ["London", "South East", "South West", "Midlands", "North West", "Yorkshire", "Scotland", "Wales"]
SEGMENT_AFFINITY: dict[str, dict[str, float]] = {
    Retailer.Segment.CONVENIENCE: {
        "Drinks": 3,
        "Bakery": 2,
        "Fresh & chilled": 2,
        "Grocery": 3,
        "Household": 1.5,
        "Gifts & seasonal": 0.3,
    },
    Retailer.Segment.GROCERY: {
        "Drinks": 2,
        "Bakery": 2,
        "Fresh & chilled": 3,
        "Grocery": 3,
        "Household": 2,
        "Gifts & seasonal": 0.5,
    },
    Retailer.Segment.GIFT: {
        "Drinks": 0.3,
        "Bakery": 0.5,
        "Fresh & chilled": 0.1,
        "Grocery": 0.8,
        "Household": 0.5,
        "Gifts & seasonal": 5,
    },
    Retailer.Segment.CAFE: {
        "Drinks": 5,
        "Bakery": 4,
        "Fresh & chilled": 3,
        "Grocery": 0.5,
        "Household": 1,
        "Gifts & seasonal": 0.2,
    },
    Retailer.Segment.WHOLESALE: {
        "Drinks": 2,
        "Bakery": 1,
        "Fresh & chilled": 1,
        "Grocery": 3,
        "Household": 3,
        "Gifts & seasonal": 1,
    },
}
SEGMENT_CADENCE_DAYS = {
    Retailer.Segment.CONVENIENCE: 5,
    Retailer.Segment.GROCERY: 6,
    Retailer.Segment.GIFT: 14,
    Retailer.Segment.CAFE: 4,
    Retailer.Segment.WHOLESALE: 10,
}
SEGMENT_SHOP_WORDS = {
    Retailer.Segment.CONVENIENCE: "Convenience Store",
    Retailer.Segment.GROCERY: "Grocers",
    Retailer.Segment.GIFT: "Gift Shop",
    Retailer.Segment.CAFE: "Café",
    Retailer.Segment.WHOLESALE: "Trade Supplies",
}


# Summer soft drinks, water and ice cream, winter coffee and tea.
DEMO_VENDOR_DEPARTMENTS = ("Drinks", "Fresh & chilled")
# Shares of the retailers that take up the rising product, drop the falling one, and reorder the gap's anchor.
STORY_RISING_SHARE = 0.6
STORY_FALLING_SHARE = 0.7
STORY_ANCHOR_SHARE = 0.6


class DemoWorldExists(Exception):
    """The database already holds demo data; pass reset=True to rebuild it."""


@dataclass(frozen=True, kw_only=True)
class DemoWorldConfig:
    seed: int = 42
    retailers: int = 200
    products: int = 600
    vendors: int = 6
    # Two yearly cycles and a month: a 52-week season is seen twice and the last 365 days have a year before.
    days: int = 760
    # False: no personal signal. Every retailer draws every basket from one shared popularity distribution (no
    # staples, segment affinities, bundles, seasons or story), so a retailer's history says nothing about its
    # next basket that popularity does not: the world where popularity is the best model (docs/evaluation.md).
    personal_signal: bool = True


@dataclass(frozen=True)
class DemoLogin:
    role: str
    username: str
    password: str
    member_of: str


@dataclass(frozen=True, kw_only=True)
class DemoStory:
    """The demo vendor's story products (by SKU) and the region where the missing one is never bought."""

    vendor_slug: str
    rising_sku: str
    falling_sku: str
    missing_sku: str
    companion_skus: tuple[str, ...]
    missing_region: str


@dataclass
class DemoWorldSummary:
    vendors: int = 0
    categories: int = 0
    products: int = 0
    retailers: int = 0
    orders: int = 0
    lines: int = 0
    logins: list[DemoLogin] = field(default_factory=list)
    # None when the demo vendor has too few established, non-seasonal products (very small worlds).
    story: DemoStory | None = None


@dataclass
class _Staple:
    product: Product
    period_days: float
    quantity: int
    next_due: datetime
    # A retailer that drops the product stops reordering it after this moment.
    until: datetime | None = None


def demo_world_exists() -> bool:
    return (
        Vendor.objects.filter(slug__startswith="demo-").exists()
        or Order.objects.filter(source=DEMO_SOURCE).exists()
    )


@transaction.atomic
def demo_world_reset() -> None:
    """Delete every demo row (and nothing imported or created by hand)."""
    User.objects.filter(username__in=DEMO_USERNAMES.values()).delete()
    OrderLine.objects.filter(order__source=DEMO_SOURCE).delete()
    Order.objects.filter(source=DEMO_SOURCE).delete()
    Retailer.objects.filter(external_ref__startswith="demo:").delete()
    Product.objects.filter(vendor__slug__startswith="demo-").delete()
    Vendor.objects.filter(slug__startswith="demo-").delete()
    Category.objects.filter(parent__isnull=False, products__isnull=True, name__in=_category_names()).delete()
    Category.objects.filter(parent__isnull=True, children__isnull=True, name__in=list(CATALOGUE)).delete()


def _category_names() -> list[str]:
    return [name for categories in CATALOGUE.values() for name in categories]


@transaction.atomic
def demo_world_build(
    *, config: DemoWorldConfig, reset: bool = False, today: datetime | None = None
) -> DemoWorldSummary:
    if demo_world_exists():
        if not reset:
            raise DemoWorldExists("demo data already exists; use --reset to rebuild it")
        demo_world_reset()
    rng = random.Random(config.seed)
    fake = Faker("en_GB")
    fake.seed_instance(config.seed)
    end = (today or datetime.now(UTC)).replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - timedelta(days=config.days)
    summary = DemoWorldSummary()

    vendors = _build_vendors(rng, fake, config.vendors)
    categories = _build_categories()
    products = _build_products(rng, config.products, vendors, categories, start, end)
    bundles = _bundles(rng, products) if config.personal_signal else []
    retailers = _build_retailers(rng, fake, config.retailers, start, end)
    story = _story(rng, vendors[0], products, retailers, start) if config.personal_signal else None
    if story:
        story_skus = {story.missing_sku, *story.companion_skus}
        bundles = [bundle for bundle in bundles if not story_skus & {product.sku for product in bundle}]
        by_sku = {product.sku: product for product in products}
        bundles.append([by_sku[sku] for sku in (story.missing_sku, *story.companion_skus)])
    orders, lines = _build_history(
        rng, retailers, products, bundles, start, end, story, personal_signal=config.personal_signal
    )

    summary.vendors, summary.categories, summary.products = len(vendors), len(categories), len(products)
    summary.retailers, summary.orders, summary.lines = len(retailers), orders, lines
    summary.logins = _build_logins(retailers[0], vendors[0])
    summary.story = story
    return summary


def _build_vendors(rng: random.Random, fake: Faker, count: int) -> list[Vendor]:
    names: list[str] = []
    while len(names) < count:
        name = f"{fake.last_name()} {rng.choice(['Foods', 'Wholesale', 'Trading', 'Supplies', 'Brands'])}"
        if name not in names:
            names.append(name)
    vendors = [
        Vendor(
            name=name,
            slug=f"demo-{index}-{name.lower().replace(' ', '-')}",
            contact_email=f"orders@vendor{index}.example",
        )
        for index, name in enumerate(names)
    ]
    return Vendor.objects.bulk_create(vendors)


def _build_categories() -> dict[str, Category]:
    """'Department / Category' -> the category (departments are reused when they already exist)."""
    by_path: dict[str, Category] = {}
    for department_name, categories in CATALOGUE.items():
        department, _ = Category.objects.get_or_create(name=department_name, parent=None)
        for name in categories:
            by_path[f"{department_name} / {name}"], _ = Category.objects.get_or_create(
                name=name, parent=department
            )
    return by_path


def _build_products(
    rng: random.Random,
    count: int,
    vendors: list[Vendor],
    categories: dict[str, Category],
    start: datetime,
    end: datetime,
) -> list[Product]:
    # Each vendor specialises in a few departments, so vendor analytics have a shape.
    departments = list(CATALOGUE)
    vendor_departments = {
        vendor.pk: set(rng.sample(departments, k=min(3, len(departments)))) for vendor in vendors
    }
    # The demo vendor sells the seasonal departments, so its pages have a yearly swing to show, and one more.
    others = [name for name in departments if name not in DEMO_VENDOR_DEPARTMENTS]
    vendor_departments[vendors[0].pk] = {*DEMO_VENDOR_DEPARTMENTS, rng.choice(others)}
    span_days = (end - start).days
    products: list[Product] = []
    seen_names: set[str] = set()
    attempts = 0
    while len(products) < count and attempts < count * 20:
        attempts += 1
        department = rng.choice(departments)
        category_name = rng.choice(list(CATALOGUE[department]))
        items, packs, (low, high), _season = CATALOGUE[department][category_name]
        brand, item, variant, pack = (
            rng.choice(BRANDS),
            rng.choice(items),
            rng.choice(VARIANTS),
            rng.choice(packs),
        )
        name = " ".join(part for part in (brand, variant, item) if part) + f" x{pack}"
        if name in seen_names:
            continue
        seen_names.add(name)
        owners = [vendor for vendor in vendors if department in vendor_departments[vendor.pk]] or vendors
        unit_price = Decimal(str(round(rng.uniform(low, high) * pack, 2)))
        # Most of the catalogue exists from the start; a fifth arrives over the period, some very recently.
        created_at = start - timedelta(days=rng.randint(30, 400))
        if rng.random() < 0.2:
            created_at = start + timedelta(days=span_days * math.sqrt(rng.random()))
        products.append(
            Product(
                vendor=rng.choice(owners),
                sku=f"D{len(products) + 1:05d}",
                name=name,
                description=f"{item} by {brand}{f' ({variant.lower()})' if variant else ''}, case of {pack}.",
                category=categories[f"{department} / {category_name}"],
                unit_price=unit_price,
                pack_size=pack,
                created_at=created_at,
            )
        )
    return Product.objects.bulk_create(products)


def _bundles(rng: random.Random, products: list[Product]) -> list[list[Product]]:
    """Groups of 2-3 products from related categories that retailers buy together."""
    by_department: dict[int | None, list[Product]] = defaultdict(list)
    for product in products:
        by_department[product.category.parent_id].append(product)
    bundles: list[list[Product]] = []
    for group in by_department.values():
        pool = list(group)
        rng.shuffle(pool)
        for index in range(0, min(len(pool), 24) - 2, 3):
            bundles.append(pool[index : index + rng.choice([2, 3])])
    return bundles


def _build_retailers(
    rng: random.Random, fake: Faker, count: int, start: datetime, end: datetime
) -> list[Retailer]:
    segments = list(SEGMENT_AFFINITY)
    retailers: list[Retailer] = []
    span_days = (end - start).days
    for index in range(count):
        # The first retailer is the demo login's shop: an established grocer with the richest history.
        segment = Retailer.Segment.GROCERY if index == 0 else rng.choice(segments)
        city = fake.city()
        retailers.append(
            Retailer(
                name=f"{fake.last_name()}'s {SEGMENT_SHOP_WORDS[segment]}"
                if index
                else f"{city} Fine Grocers",
                external_ref=f"demo:{index}",
                city=city,
                region=rng.choice(REGIONS),
                country="United Kingdom",
                segment=segment,
                size=Retailer.Size.LARGE if index == 0 else rng.choice(list(Retailer.Size)),
            )
        )
    created = Retailer.objects.bulk_create(retailers)
    # Growth: half the retailers were there from the start, the rest joined during the period.
    for index, retailer in enumerate(created):
        late_joiner = index > 0 and rng.random() < 0.5
        retailer.created_at = (
            start + timedelta(days=rng.uniform(0, span_days * 0.8)) if late_joiner else start
        )
    Retailer.objects.bulk_update(created, ["created_at"], batch_size=500)
    return created


def _story(
    rng: random.Random, vendor: Vendor, products: list[Product], retailers: list[Retailer], start: datetime
) -> DemoStory | None:
    """Pick the demo vendor's story products among its non-seasonal products sold from the start."""
    candidates = sorted(
        (
            product
            for product in products
            if product.vendor_id == vendor.pk
            and product.created_at <= start
            and product.category
            and not CATALOGUE[product.category.parent.name][product.category.name][3]
        ),
        key=lambda product: product.sku,
    )
    if len(candidates) < 5:
        return None
    rising, falling, missing, *companions = rng.sample(candidates, k=5)
    # The region with the most retailers of one segment: its gap then shows as a group of >= 5 retailers.
    groups: dict[tuple[str, str], int] = defaultdict(int)
    for retailer in retailers:
        groups[(retailer.region, retailer.segment)] += 1
    region = min(groups, key=lambda group: (-groups[group], group))[0]
    return DemoStory(
        vendor_slug=vendor.slug,
        rising_sku=rising.sku,
        falling_sku=falling.sku,
        missing_sku=missing.sku,
        companion_skus=tuple(product.sku for product in companions),
        missing_region=region,
    )


def _story_staples(
    rng: random.Random,
    story: DemoStory,
    by_sku: dict[str, Product],
    joined_at: datetime,
    start: datetime,
    span_days: int,
) -> list[_Staple]:
    """The story products one retailer reorders: when it takes up the rising one, drops the falling one."""
    staples = []
    if rng.random() < STORY_RISING_SHARE:
        # Take-up accelerates: nobody buys it in the first 30% of the period, then buyers join ever faster.
        adopted = start + timedelta(days=span_days * (0.3 + 0.7 * math.sqrt(rng.random())))
        staples.append(
            _Staple(by_sku[story.rising_sku], 10 * rng.uniform(0.8, 1.3), 2, max(adopted, joined_at))
        )
    if rng.random() < STORY_FALLING_SHARE:
        dropped = start + timedelta(days=span_days * rng.uniform(0.35, 1.05))
        staples.append(_Staple(by_sku[story.falling_sku], 10 * rng.uniform(0.8, 1.3), 2, joined_at, dropped))
    if rng.random() < STORY_ANCHOR_SHARE:
        anchor = by_sku[story.companion_skus[0]]
        staples.append(
            _Staple(anchor, 14 * rng.uniform(0.8, 1.3), 2, joined_at + timedelta(days=rng.uniform(0, 14)))
        )
    return staples


def _season_factor(season: str, when: datetime) -> float:
    if season == "summer":
        return 1.0 + 0.8 * math.cos((when.timetuple().tm_yday - 196) / 365 * 2 * math.pi)
    if season == "winter":
        return 1.0 - 0.7 * math.cos((when.timetuple().tm_yday - 196) / 365 * 2 * math.pi)
    if season == "christmas":
        return 6.0 if when.month in (11, 12) else 0.1
    return 1.0


def _build_history(
    rng: random.Random,
    retailers: list[Retailer],
    products: list[Product],
    bundles: list[list[Product]],
    start: datetime,
    end: datetime,
    story: DemoStory | None,
    *,
    personal_signal: bool = True,
) -> tuple[int, int]:
    seasons = {
        product.pk: CATALOGUE[product.category.parent.name][product.category.name][3]
        for product in products
        if product.category
    }
    department_of = {product.pk: product.category.parent.name for product in products if product.category}
    bundle_of = {product.pk: bundle for bundle in bundles for product in bundle}
    popularity = {product.pk: rng.paretovariate(1.2) for product in products}
    by_sku = {product.sku: product for product in products}
    missing_pk = None
    if story:
        # The rising and falling products sell only as staples, so their trends are the take-up and the drops.
        popularity[by_sku[story.rising_sku].pk] = popularity[by_sku[story.falling_sku].pk] = 0.0
        missing_pk = by_sku[story.missing_sku].pk
    span_days = (end - start).days
    order_count = line_count = 0
    for index, retailer in enumerate(retailers):
        affinity = SEGMENT_AFFINITY[retailer.segment] if personal_signal else defaultdict(lambda: 1.0)
        weights = [affinity[department_of[p.pk]] * popularity[p.pk] for p in products]
        joined_at = retailer.created_at
        available = [p for p in products if p.created_at <= joined_at] or products
        available_weights = [affinity[department_of[p.pk]] * popularity[p.pk] for p in available]
        staples = []
        # dict.fromkeys drops repeats while keeping the draw order, so the seed fully decides the staples.
        staple_count = 25 if index == 0 else rng.randint(5, 14)
        for product in dict.fromkeys(
            rng.choices(available, weights=available_weights, k=staple_count if personal_signal else 0)
        ):
            period = rng.choice([7, 14, 21, 28]) * rng.uniform(0.8, 1.3)
            staples.append(
                _Staple(
                    product, period, rng.randint(1, 4), joined_at + timedelta(days=rng.uniform(0, period))
                )
            )
        if story:
            staples += _story_staples(rng, story, by_sku, joined_at, start, span_days)
        # The distribution gap: this region's retailers never buy the missing product, whatever pulls it in.
        skipped_pk = missing_pk if story and retailer.region == story.missing_region else None
        # The demo login's shop orders twice a week, so its history is the richest one.
        cadence = 3.0 if index == 0 else SEGMENT_CADENCE_DAYS[retailer.segment] * rng.uniform(0.8, 1.4)
        when = joined_at + timedelta(days=rng.uniform(0, cadence))
        orders: list[Order] = []
        baskets: list[dict[int, tuple[Product, int]]] = []
        while when < end:
            progress = (when - start).days / span_days
            basket: dict[int, tuple[Product, int]] = {}
            for staple in staples:
                if staple.until and when > staple.until:
                    continue
                if staple.next_due <= when and rng.random() < 0.9:
                    season = _season_factor(seasons.get(staple.product.pk, ""), when)
                    staple.next_due = when + timedelta(days=staple.period_days * rng.uniform(0.85, 1.15))
                    # Off season a seasonal staple is often skipped, not only ordered in fewer cases.
                    if rng.random() < season:
                        basket[staple.product.pk] = (
                            staple.product,
                            max(1, round(staple.quantity * season * rng.uniform(0.7, 1.3))),
                        )
            # Without personal signal the shared draw is the whole basket, about as large as a demo basket.
            draws = rng.randint(1, 3 + round(3 * progress)) if personal_signal else rng.randint(2, 8)
            for product in rng.choices(products, weights=weights, k=draws):
                if product.created_at > when:
                    continue
                if personal_signal and rng.random() > _season_factor(seasons.get(product.pk, ""), when) / 2:
                    continue
                basket.setdefault(product.pk, (product, rng.randint(1, 3)))
            for product, _quantity in list(basket.values()):
                for partner in bundle_of.get(product.pk, []):
                    pull = 0.7 * min(1.0, _season_factor(seasons.get(partner.pk, ""), when))
                    if partner.created_at <= when and rng.random() < pull:
                        basket.setdefault(partner.pk, (partner, rng.randint(1, 2)))
            basket.pop(skipped_pk, None)
            if basket:
                placed_at = when.replace(
                    hour=rng.randint(6, 18), minute=rng.randint(0, 59), second=0, microsecond=0
                )
                orders.append(
                    Order(
                        retailer=retailer, status=Order.Status.PLACED, placed_at=placed_at, source=DEMO_SOURCE
                    )
                )
                baskets.append(basket)
            # Growth: every retailer orders a little more often as the period goes on.
            when += timedelta(days=cadence * rng.uniform(0.6, 1.4) * (1.2 - 0.4 * progress))
        created = Order.objects.bulk_create(orders)
        lines = [
            OrderLine(order=order, product=product, quantity=quantity, unit_price=product.unit_price)
            for order, basket in zip(created, baskets, strict=True)
            for product, quantity in basket.values()
        ]
        OrderLine.objects.bulk_create(lines, batch_size=2000)
        order_count += len(created)
        line_count += len(lines)
    orders_number_unnumbered()
    # auto_now_add stamped the orders with today; history should say when they were placed.
    Order.objects.filter(source=DEMO_SOURCE).update(created_at=F("placed_at"), updated_at=F("placed_at"))
    return order_count, line_count


def _build_logins(retailer: Retailer, vendor: Vendor) -> list[DemoLogin]:
    users = [
        (
            User(
                username=DEMO_USERNAMES["retailer"],
                role=User.Role.RETAILER,
                retailer=retailer,
                first_name="Rita",
            ),
            retailer.name,
        ),
        (
            User(
                username=DEMO_USERNAMES["vendor"], role=User.Role.VENDOR, vendor=vendor, first_name="Victor"
            ),
            vendor.name,
        ),
        (
            User(
                username=DEMO_USERNAMES["staff"],
                role=User.Role.STAFF,
                is_staff=True,
                is_superuser=True,
                first_name="Sam",
            ),
            "SmartBasket staff",
        ),
    ]
    logins = []
    for user, member_of in users:
        user.set_password(DEMO_PASSWORD)
        user.save()
        logins.append(
            DemoLogin(role=user.role, username=user.username, password=DEMO_PASSWORD, member_of=member_of)
        )
    return logins
