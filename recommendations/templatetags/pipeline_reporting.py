"""Template filters for the staff console: the same wording as the `retrain` command (reporting.py)."""

from django import template

from recommendations import reporting

register = template.Library()


@register.filter
def human_duration(seconds: float | None) -> str:
    return reporting.human_duration(seconds)
