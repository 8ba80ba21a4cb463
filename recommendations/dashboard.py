"""Reads behind the retailer dashboard: the precomputed rows of the active version plus a spend summary.

The dashboard issues a fixed number of queries whatever the number of rows (tests assert it): each surface is
one query with its products and vendors joined, the product names quoted by explanations are fetched together,
and the summary is three small aggregates.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Count, DecimalField, F, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Retailer
from catalog.models import Product
from orders.models import Order, OrderLine
from recommendations import cold_start, explanations, selectors
from recommendations.feedback import Event, Kind, Surface
from recommendations.models import ModelVersion, Recommendation, ReorderPrediction, TrainingRun

FOR_YOU_LIMIT = 12
NEW_FOR_YOU_LIMIT = 8
DUE_LIMIT = 12
# Due items listed openly; the rest sit behind "N more due" so the suggestions stay near the top on a phone.
DUE_VISIBLE = 4
# A product is a new arrival when it entered the catalogue this many days before the model's data cutoff.
NEW_ARRIVAL_DAYS = 30

REASON_LABELS = {
    "repeat": "You buy it",
    "due": "Due",
    "bought_with": "Bought together",
    "neighbours": "Retailers like you",
    "collaborative": "Retailers like you",
    "content": "Similar product",
    "popular": "Popular",
    "sequence": "Ordered next",
    "new_arrival": "New arrival",
    "in_orders": "Popular",
    "basket_fit": "Goes with your basket",
}


@dataclass(frozen=True)
class ReasonLine:
    kind: str
    label: str
    sentence: str
    weight: float

    @property
    def weight_step(self) -> int:
        """The weight in 5% steps, naming the bar's width class (static CSS: the CSP forbids inline styles).
        A reason that weighs anything is drawn at least one step wide."""
        step = round(max(0.0, min(1.0, self.weight)) * 20) * 5
        return max(step, 5) if self.weight > 0 else 0


@dataclass(frozen=True)
class Card:
    """A recommended product as the dashboard shows it."""

    surface: str
    product: Product
    rank: int
    score: float
    # Calibrated P(in the retailer's next order); None for a version trained before calibration existed.
    probability: float | None
    explanation: str
    reasons: list[ReasonLine]
    is_new_arrival: bool
    basket_quantity: int
    # The row's reasons the sentences are made from (none citing the product itself), kept as stored.
    stored_reasons: list[dict] = field(default_factory=list)

    @property
    def probability_percent(self) -> int | None:
        return None if self.probability is None else round(self.probability * 100)


@dataclass(frozen=True)
class DueItem:
    prediction: ReorderPrediction
    basket_quantity: int
    explanation: str
    # "7 Nov, 15 days ago", worded as in the sentences.
    last_ordered_text: str

    @property
    def product(self) -> Product:
        return self.prediction.product

    @property
    def is_overdue(self) -> bool:
        return self.prediction.expected_date <= timezone.localdate()


@dataclass(frozen=True)
class BasketState:
    order_id: int | None
    quantities: dict[int, int]
    total: Decimal

    @property
    def line_count(self) -> int:
        return len(self.quantities)


@dataclass(frozen=True)
class Summary:
    spend_this_month: Decimal
    spend_last_month: Decimal
    basket: BasketState
    last_order: Order | None

    @property
    def spend_change_percent(self) -> int | None:
        if not self.spend_last_month:
            return None
        return round((self.spend_this_month - self.spend_last_month) / self.spend_last_month * 100)


@dataclass(frozen=True)
class ColdStart:
    """What the dashboard shows while no version is active (recommendations/cold_start.py), and the training
    run that will end it."""

    region: list[Card]
    segment: list[Card]
    new_arrivals: list[Card]
    run: TrainingRun | None

    window_days = cold_start.WINDOW_DAYS
    new_arrival_days = cold_start.NEW_ARRIVAL_DAYS

    @property
    def cards(self) -> list[Card]:
        return [*self.region, *self.segment, *self.new_arrivals]

    @property
    def is_training(self) -> bool:
        return self.run is not None and self.run.status in (
            TrainingRun.Status.PENDING,
            TrainingRun.Status.RUNNING,
        )


@dataclass
class Dashboard:
    version: ModelVersion | None
    summary: Summary
    for_you: list[Card] = field(default_factory=list)
    new_for_you: list[Card] = field(default_factory=list)
    due: list[DueItem] = field(default_factory=list)
    cold_start: ColdStart | None = None

    @property
    def due_first(self) -> list[DueItem]:
        return self.due[:DUE_VISIBLE]

    @property
    def due_more(self) -> list[DueItem]:
        return self.due[DUE_VISIBLE:]

    def impressions(self) -> list[Event]:
        """One impression per row shown, tagged with the version that produced it."""
        version_id = self.version.pk if self.version else None
        cold = self.cold_start.cards if self.cold_start else []
        shown = [(card.surface, card.product.pk) for card in (*self.for_you, *self.new_for_you, *cold)]
        shown += [(Surface.DUE, item.product.pk) for item in self.due]
        return [
            Event(product_id=product_id, surface=surface, kind=Kind.IMPRESSION, model_version_id=version_id)
            for surface, product_id in shown
        ]


def _month_start(moment: datetime) -> datetime:
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def basket_state(*, retailer: Retailer) -> BasketState:
    lines = list(
        OrderLine.objects.filter(order__retailer=retailer, order__status=Order.Status.DRAFT).values_list(
            "order_id", "product_id", "quantity", "unit_price"
        )
    )
    return BasketState(
        order_id=lines[0][0] if lines else None,
        quantities={product_id: quantity for _, product_id, quantity, _ in lines},
        total=sum((quantity * price for _, _, quantity, price in lines), Decimal("0.00")),
    )


def retailer_summary(*, retailer: Retailer) -> Summary:
    now = timezone.localtime()
    this_month = _month_start(now)
    last_month = _month_start(this_month - timedelta(days=1))
    line_value = F("quantity") * F("unit_price")
    money = DecimalField(max_digits=14, decimal_places=2)
    spend = OrderLine.objects.filter(
        order__retailer=retailer, order__status=Order.Status.PLACED, order__placed_at__gte=last_month
    ).aggregate(
        this_month=Coalesce(
            Sum(line_value, filter=Q(order__placed_at__gte=this_month), output_field=money), Decimal("0.00")
        ),
        last_month=Coalesce(
            Sum(line_value, filter=Q(order__placed_at__lt=this_month), output_field=money), Decimal("0.00")
        ),
    )
    # The totals are aggregated over the newest order only, not over every order before picking one.
    newest = Order.objects.filter(retailer=retailer, status=Order.Status.PLACED).order_by("-placed_at", "-id")
    last_order = (
        Order.objects.filter(pk=Subquery(newest.values("pk")[:1]))
        .annotate(
            line_count=Count("lines"),
            order_total=Coalesce(
                Sum(F("lines__quantity") * F("lines__unit_price"), output_field=money), Decimal("0.00")
            ),
        )
        .first()
    )
    return Summary(
        spend_this_month=spend["this_month"],
        spend_last_month=spend["last_month"],
        basket=basket_state(retailer=retailer),
        last_order=last_order,
    )


def is_new_arrival(product: Product, reasons: list[dict], *, reference: datetime) -> bool:
    if any(int(reason.get("facts", {}).get("is_new", 0)) for reason in reasons):
        return True
    return product.created_at >= reference - timedelta(days=NEW_ARRIVAL_DAYS)


def reason_lines(reasons: list[dict], *, names: dict[int, str], today: date) -> list[ReasonLine]:
    """Stored reasons as labelled sentences; kinds this portal cannot put into words are left out."""
    return [
        ReasonLine(
            kind=reason["kind"],
            label=REASON_LABELS.get(reason["kind"], reason["kind"].replace("_", " ").capitalize()),
            sentence=explanations.reason_sentence(reason, product_names=names, today=today),
            weight=float(reason.get("weight", 0.0)),
        )
        for reason in reasons
        if reason.get("kind") in explanations.FORMATTERS
    ]


def _cards(
    rows: list[Recommendation],
    *,
    names: dict[int, str],
    quantities: dict[int, int],
    reference: datetime,
    today: date,
) -> list[Card]:
    cards = []
    for row in rows:
        reasons = explanations.citable(row.reasons, product_id=row.product_id)
        cards.append(
            Card(
                surface=row.surface,
                product=row.product,
                rank=row.rank,
                score=row.score,
                probability=row.probability,
                explanation=explanations.sentence_for(reasons, product_names=names, today=today),
                reasons=reason_lines(reasons, names=names, today=today),
                is_new_arrival=is_new_arrival(row.product, row.reasons, reference=reference),
                basket_quantity=quantities.get(row.product_id, 0),
                stored_reasons=reasons,
            )
        )
    return cards


@dataclass(frozen=True)
class Lists:
    """The three lists of one version as cards, whoever reads them (the dashboard, the API's documents)."""

    for_you: list[Card]
    new_for_you: list[Card]
    due: list[ReorderPrediction]
    # The product names the reasons quote, by id.
    names: dict[int, str]


def lists_from_rows(
    *,
    version: ModelVersion,
    for_you: list[Recommendation],
    new_for_you: list[Recommendation],
    due: list[ReorderPrediction],
    new_for_you_limit: int,
    today: date,
    quantities: dict[int, int] | None = None,
) -> Lists:
    """The shown lists from the version's rows (ranked, read with their products): one query for the
    product names the explanations quote.

    Rows are computed at training time: products discontinued since then are dropped here, not offered.
    Products already recommended "for you" are not repeated under "New for you"; callers read a few more
    new-for-you rows than shown so the section stays full after that.
    """
    quantities = quantities or {}
    for_you = [row for row in for_you if row.product.is_active]
    shown_above = {row.product_id for row in for_you}
    new_for_you = [row for row in new_for_you if row.product.is_active and row.product_id not in shown_above][
        :new_for_you_limit
    ]
    anchors: set[int] = set()
    for row in (*for_you, *new_for_you):
        anchors |= explanations.anchor_ids(row.reasons)
    names = dict(Product.objects.filter(pk__in=anchors).values_list("pk", "name")) if anchors else {}
    reference = version.data_cutoff or timezone.now()
    return Lists(
        for_you=_cards(for_you, names=names, quantities=quantities, reference=reference, today=today),
        new_for_you=_cards(new_for_you, names=names, quantities=quantities, reference=reference, today=today),
        due=[row for row in due if row.product.is_active],
        names=names,
    )


def due_item(row: ReorderPrediction, *, basket_quantity: int, today: date) -> DueItem:
    return DueItem(
        prediction=row,
        basket_quantity=basket_quantity,
        explanation=explanations.reorder_sentence(
            cadence_days=row.cadence_days, last_ordered=row.last_ordered, today=today
        ),
        last_ordered_text=explanations.day_and_age(row.last_ordered, today=today),
    )


def pick_cards(picks: list[cold_start.Pick], *, surface: str, quantities: dict[int, int]) -> list[Card]:
    """Cold-start picks as cards; their reasons quote counts, never another product, so no names are read."""
    today = timezone.localdate()
    return [
        Card(
            surface=surface,
            product=pick.product,
            rank=rank,
            score=pick.score,
            # No model, so no calibrated chance: the card shows no badge.
            probability=None,
            explanation=explanations.sentence_for(pick.reasons, product_names={}, today=today),
            reasons=reason_lines(pick.reasons, names={}, today=today),
            is_new_arrival=pick.reasons[0]["kind"] == "new_arrival",
            basket_quantity=quantities.get(pick.product.pk, 0),
            stored_reasons=pick.reasons,
        )
        for rank, pick in enumerate(picks, start=1)
    ]


def cold_start_for(*, retailer: Retailer, quantities: dict[int, int]) -> ColdStart:
    picks = cold_start.cold_start_picks(retailer=retailer)
    return ColdStart(
        region=pick_cards(picks.region, surface=Surface.FOR_YOU, quantities=quantities),
        segment=pick_cards(picks.segment, surface=Surface.FOR_YOU, quantities=quantities),
        new_arrivals=pick_cards(picks.new_arrivals, surface=Surface.NEW_FOR_YOU, quantities=quantities),
        run=selectors.latest_training_run(),
    )


def dashboard_for(*, retailer: Retailer) -> Dashboard:
    summary = retailer_summary(retailer=retailer)
    # Resolved once and passed to every read, so a version flip mid-request never mixes two versions. Read
    # on every request, never cached: the first published version replaces the cold-start lists at once.
    version = selectors.active_version()
    if version is None:
        return Dashboard(
            version=None,
            summary=summary,
            cold_start=cold_start_for(retailer=retailer, quantities=summary.basket.quantities),
        )
    quantities = summary.basket.quantities
    # One day for the whole page: every "days ago" on it is counted to the same date.
    today = timezone.localdate()
    lists = lists_from_rows(
        version=version,
        for_you=selectors.recommendations_for(
            retailer=retailer, surface=Surface.FOR_YOU, limit=FOR_YOU_LIMIT, version=version
        ),
        new_for_you=selectors.recommendations_for(
            retailer=retailer,
            surface=Surface.NEW_FOR_YOU,
            limit=NEW_FOR_YOU_LIMIT + FOR_YOU_LIMIT,
            version=version,
        ),
        due=selectors.reorders_due_for(retailer=retailer, limit=DUE_LIMIT, version=version),
        new_for_you_limit=NEW_FOR_YOU_LIMIT,
        today=today,
        quantities=quantities,
    )
    return Dashboard(
        version=version,
        summary=summary,
        for_you=lists.for_you,
        new_for_you=lists.new_for_you,
        due=[
            due_item(row, basket_quantity=quantities.get(row.product_id, 0), today=today) for row in lists.due
        ],
    )
