from decimal import Decimal

from django import template

register = template.Library()


@register.inclusion_tag("vendors/_change_badge.html")
def change_badge(current: int | Decimal, previous: int | Decimal) -> dict:
    """A ▲/▼ badge with the percent change against the previous period, or "new" when there was none."""
    if not previous:
        return {"change": None, "is_new": bool(current)}
    change = float((Decimal(current) - Decimal(previous)) / Decimal(previous) * 100)
    return {"change": change, "is_new": False}
