from django import template
from django.http import QueryDict
from django.utils.http import urlencode

from vendors.periods import PRESET_DAYS

register = template.Library()

# Parameters the period picker sets itself, and the page number, which a new period makes meaningless.
_PERIOD_PARAMS = ("period", "start", "end", "page")


def _kept(query: QueryDict, dropped: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(key, value) for key, values in query.lists() if key not in dropped for value in values]


@register.simple_tag(takes_context=True)
def period_preset_query(context: template.Context, days: int) -> str:
    """The current URL's query with the period set to a preset: the page's filters and sort are kept."""
    return "?" + urlencode([*_kept(context["request"].GET, _PERIOD_PARAMS), ("period", str(days))])


@register.simple_tag(takes_context=True)
def kept_params(context: template.Context) -> list[tuple[str, str]]:
    """The query parameters a period form must resubmit as hidden fields to keep the page's filters."""
    return _kept(context["request"].GET, _PERIOD_PARAMS)


@register.simple_tag
def period_presets() -> tuple[int, ...]:
    return PRESET_DAYS
