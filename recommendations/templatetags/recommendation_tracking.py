"""Tags that carry a recommendation's surface and model version from the page to the click or add it leads to.

    {% load recommendation_tracking %}
    <a href="{% tracked_product_url product "similar" version_id %}">...</a>
    <form ...>{% track_fields "similar" version_id %}...</form>    a row shown on this page
    <form ...>{% track_fields_from_request %}...</form>             a page reached from a tracked link

The receiving view calls `recommendations.feedback.event_record_tracked(..., data=request.POST)`.
"""

from typing import Any

from django import template
from django.urls import reverse
from django.utils.http import urlencode

from catalog.models import Product
from recommendations.feedback import tracking_from_data

register = template.Library()


def _fields(surface: str, model_version_id: int | None) -> dict[str, Any]:
    return {"src": surface, "mv": model_version_id if model_version_id is not None else ""}


@register.inclusion_tag("recommendations/_track_fields.html")
def track_fields(surface: str, model_version_id: int | None = None) -> dict[str, Any]:
    return _fields(surface, model_version_id)


@register.inclusion_tag("recommendations/_track_fields.html", takes_context=True)
def track_fields_from_request(context: template.Context) -> dict[str, Any]:
    request = context.get("request")
    tracking = tracking_from_data(request.GET) if request is not None else None
    if tracking is None:
        return {}
    return _fields(tracking.surface, tracking.model_version_id)


@register.simple_tag
def tracked_product_url(product: Product | int, surface: str, model_version_id: int | None = None) -> str:
    """The product's link through the click counter (recommendations:product_open)."""
    product_id = product if isinstance(product, int) else product.pk
    url = reverse("recommendations:product_open", args=[product_id])
    params = {"src": surface}
    if model_version_id is not None:
        params["mv"] = model_version_id
    return f"{url}?{urlencode(params)}"
