"""Sentences made only from the structured reasons the ML core returns, put into words when they are read.

A sentence may state nothing that is not a number or a name in its reason's `facts` (plus product names
looked up by id), so tests can recompute every number it quotes from the raw orders. Reasons store dates,
never ages: "15 days ago" is counted from `today`, the day the page or the API answer is made, so a sentence
is true on the day it is read and the same fact reads the same on every surface.
"""

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

Reason = dict[str, Any]
Names = Mapping[int, str]

# When the strongest signal is small, its sentence is followed by the runner-up's.
SECOND_REASON_MIN_WEIGHT = 0.3


def reason_to_dict(reason: Any) -> Reason:
    """An ML core `Reason` as the JSON stored on a row."""
    return {"kind": reason.kind, "weight": round(float(reason.weight), 4), "facts": dict(reason.facts)}


def bought_with_reason(*, anchor: int, together: int, anchor_orders: int, lift: float) -> Reason:
    return {
        "kind": "bought_with",
        "weight": 1.0,
        "facts": {"anchor": anchor, "together": together, "anchor_orders": anchor_orders, "lift": lift},
    }


def in_orders_reason(*, orders: int, n_orders: int) -> Reason:
    """A product's popularity as counted in the model's training orders (a basket suggestion's)."""
    return {"kind": "in_orders", "weight": 1.0, "facts": {"orders": orders, "n_orders": n_orders}}


def basket_fit_reason(*, basket_size: int) -> Reason:
    """A basket suggestion the item embeddings put close to the basket's products."""
    return {"kind": "basket_fit", "weight": 1.0, "facts": {"basket_size": basket_size}}


def anchor_ids(reasons: list[Reason]) -> set[int]:
    return {int(r["facts"]["anchor"]) for r in reasons if isinstance(r["facts"].get("anchor"), int)}


def citable(reasons: list[Reason], *, product_id: int) -> list[Reason]:
    """The reasons that may explain `product_id`: one citing the product itself ("bought with X" on X's own
    card) proves nothing, so it is dropped and the next reason speaks instead."""
    return [reason for reason in reasons if reason["facts"].get("anchor") != product_id]


def days_since(day: date, *, today: date) -> int:
    # A date after `today` (a clock behind the data) is not "-1 days ago": it counts as today's order.
    return max((today - day).days, 0)


def day_and_age(day: date, *, today: date) -> str:
    """ "7 Nov, 15 days ago": the date as stored, its age counted to `today`. The year is shown only when it
    is not this year's."""
    when = f"{day.day} {day:%b}" if day.year == today.year else f"{day.day} {day:%b %Y}"
    age = days_since(day, today=today)
    ago = "today" if age == 0 else f"{_plural(age, 'day')} ago"
    return f"{when}, {ago}"


def _last_ordered(iso: str, today: date) -> str:
    return f"last ordered {day_and_age(date.fromisoformat(str(iso)[:10]), today=today)}"


def _count(value: Any) -> str:
    return f"{int(value):,}"


def _plural(value: Any, word: str) -> str:
    number = int(value)
    return f"{number:,} {word}" if number == 1 else f"{number:,} {word}s"


def _lift(value: Any) -> str:
    return f"{float(value):.1f}x"


def _repeat(facts: Mapping[str, Any], names: Names, today: date) -> str:
    orders = _plural(facts["orders_total"], "order")
    return (
        f"You ordered this in {_count(facts['times_ordered'])} of your {orders}; "
        f"{_last_ordered(facts['last_ordered'], today)}"
    )


def _due(facts: Mapping[str, Any], names: Names, today: date) -> str:
    cadence = _plural(round(float(facts["cadence_days"])), "day")
    return f"You order this about every {cadence}; {_last_ordered(facts['last_ordered'], today)}"


def _bought_with(facts: Mapping[str, Any], names: Names, today: date) -> str:
    anchor = names.get(int(facts["anchor"]), "a product you buy")
    return (
        f"Bought with {anchor} in {_count(facts['together'])} of {_plural(facts['anchor_orders'], 'order')} "
        f"({_lift(facts['lift'])} more often than chance)"
    )


def _neighbours(facts: Mapping[str, Any], names: Names, today: date) -> str:
    return (
        f"Ordered by {_count(facts['neighbours_bought'])} of the {_plural(facts['neighbours'], 'retailer')} "
        "whose orders are most like yours"
    )


def _collaborative(facts: Mapping[str, Any], names: Names, today: date) -> str:
    # The latent similarity is the model's inference, not a counted fact: the sentence states only the count.
    if "retailers" in facts:
        return f"Ordered by {_plural(facts['retailers'], 'retailer')} on the platform"
    return "Suggested from retailers whose orders resemble yours"


def _content(facts: Mapping[str, Any], names: Names, today: date) -> str:
    anchor = names.get(int(facts["anchor"]), "a product you buy")
    prefix = "New product similar" if int(facts.get("is_new", 0)) else "Similar"
    return f"{prefix} to {anchor}, which you have ordered"


def _popular(facts: Mapping[str, Any], names: Names, today: date) -> str:
    window = int(facts["window_days"])
    # The window ends at the model's data cutoff, not at a calendar month boundary, so say exactly that.
    period = f"in the last {_plural(window, 'day')}"
    scope = facts.get("scope", "all")
    where = {
        "region": f" in {facts.get('scope_value') or 'your region'}",
        "segment": f" in your segment ({facts.get('scope_value')})"
        if facts.get("scope_value")
        else " like you",
    }.get(scope, "")
    return f"Popular with {_plural(facts['retailers'], 'retailer')}{where} {period}"


def _in_orders(facts: Mapping[str, Any], names: Names, today: date) -> str:
    return f"In {_count(facts['orders'])} of the {_plural(facts['n_orders'], 'order')} on the platform"


def _basket_fit(facts: Mapping[str, Any], names: Names, today: date) -> str:
    # The embedding's closeness is the model's inference, not a count: the sentence says what it compares.
    return f"Suggested from the {_plural(facts['basket_size'], 'product')} in your basket"


def _new_arrival(facts: Mapping[str, Any], names: Names, today: date) -> str:
    created = date.fromisoformat(str(facts["created"])[:10])
    since = f"New in the catalogue since {day_and_age(created, today=today)}"
    retailers = int(facts.get("retailers", 0))
    return f"{since}; ordered by {_plural(retailers, 'retailer')} since then" if retailers else since


def _sequence(facts: Mapping[str, Any], names: Names, today: date) -> str:
    if "anchor" in facts and int(facts["anchor"]) in names:
        return f"Suggested from your recent orders, chiefly {names[int(facts['anchor'])]}"
    return "Suggested from your recent orders"


FORMATTERS: dict[str, Callable[[Mapping[str, Any], Names, date], str]] = {
    "repeat": _repeat,
    "due": _due,
    "bought_with": _bought_with,
    "neighbours": _neighbours,
    "collaborative": _collaborative,
    "content": _content,
    "popular": _popular,
    "sequence": _sequence,
    "new_arrival": _new_arrival,
    "in_orders": _in_orders,
    "basket_fit": _basket_fit,
}


def reason_sentence(reason: Reason, *, product_names: Names, today: date) -> str:
    return FORMATTERS[reason["kind"]](reason["facts"], product_names, today)


def sentence_for(reasons: list[Reason], *, product_names: Names, today: date) -> str:
    """The strongest reason's sentence, followed by the second one's when the first does not dominate."""
    return strongest_sentence(
        [
            (
                reason["kind"],
                reason["weight"],
                reason_sentence(reason, product_names=product_names, today=today),
            )
            for reason in reasons[:2]
        ]
    )


def strongest_sentence(parts: Sequence[tuple[str, float, str]]) -> str:
    """`sentence_for` from reasons already put into words, strongest first: (kind, weight, sentence)."""
    if not parts:
        return ""
    first_kind, first_weight, first = parts[0]
    sentences = [first]
    if len(parts) > 1 and first_weight < 1 - SECOND_REASON_MIN_WEIGHT:
        second_kind, second_weight, second = parts[1]
        if second_weight >= SECOND_REASON_MIN_WEIGHT and second_kind != first_kind:
            sentences.append(second)
    return ". ".join(sentences) + "."


def association_sentence(*, product_name: str, together: int, product_orders: int, lift: float) -> str:
    return (
        f"Bought with {product_name} in {_count(together)} of {_plural(product_orders, 'order')} "
        f"({_lift(lift)} more often than chance)."
    )


def due_reason(*, cadence_days: float, last_ordered: date) -> Reason:
    """A reorder prediction's numbers as the "due" reason, so its sentence is worded as the cards' one."""
    return {
        "kind": "due",
        "weight": 1.0,
        "facts": {"cadence_days": cadence_days, "last_ordered": last_ordered.isoformat()},
    }


def reorder_sentence(*, cadence_days: float, last_ordered: date, today: date) -> str:
    reason = due_reason(cadence_days=cadence_days, last_ordered=last_ordered)
    return sentence_for([reason], product_names={}, today=today)


def similarity_sentence(*, similarity: float) -> str:
    """Content similarity is a model score, not a count: the sentence says what it compares, nothing more.

    The content model compares the words of the name and description and the category
    (recommendations/ml/content.py); the vendor is left out so that one supplier's range does not pass for
    similar products.
    """
    return f"{round(max(0.0, min(1.0, similarity)) * 100)}% match on name, description and category."
