from typing import Any

from django import template

from orders.selectors import basket_line_count

register = template.Library()


@register.inclusion_tag("orders/nav_basket.html", takes_context=True)
def nav_basket_count(context: template.Context) -> dict[str, Any]:
    """The number on the navigation's basket link: `{% load basket_tags %}...Basket {% nav_basket_count %}`.

    htmx basket views replace it out of band (same template, `oob=True`), so it stays right without a reload.
    """
    user = context["request"].user
    count = basket_line_count(retailer=user.retailer) if user.is_authenticated and user.retailer_id else 0
    return {"basket_line_count": count}
