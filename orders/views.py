from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, push_url, trigger_client_event

from accounts.decorators import retailer_required
from accounts.models import Retailer
from accounts.selectors import user_page_size
from orders import selectors, services
from orders.forms import AddToBasketForm, LineQuantityForm, OrderFilterForm
from orders.models import Order, OrderLine
from recommendations.interface import (
    Event,
    Kind,
    Surface,
    active_version,
    basket_completion,
    event_record_tracked,
    events_record,
)

BASKET_TEMPLATE = "orders/basket.html"
SUGGESTION_LIMIT = 6


def _get_order_for_user(retailer: Retailer, order_id: int) -> Order:
    order = selectors.order_for_retailer(retailer=retailer, order_id=order_id)
    if order is None:
        raise Http404("No such order")
    return order


def _get_basket_line_for_user(retailer: Retailer, line_id: int) -> OrderLine:
    line = selectors.basket_line_for(retailer=retailer, line_id=line_id)
    if line is None:
        raise Http404("No such basket line")
    return line


def _first_error(form_or_error: AddToBasketForm | LineQuantityForm | ValidationError) -> str:
    if isinstance(form_or_error, ValidationError):
        return form_or_error.messages[0]
    for field, errors in form_or_error.errors.items():
        return f"{field.capitalize()}: {errors[0]}" if field != "__all__" else errors[0]
    return "Invalid request."


def _redirect_back(request: HttpRequest, fallback: str = "orders:basket") -> HttpResponse:
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(fallback)


def _basket_changed_response(request: HttpRequest, partial: str, context: dict[str, Any]) -> HttpResponse:
    """An htmx answer to a basket edit: the target partial, the nav count out of band, and an event that makes
    the "Complete your basket" panel re-predict."""
    count = selectors.basket_line_count(retailer=request.user.retailer)
    html = render_to_string(f"{BASKET_TEMPLATE}#{partial}", context, request=request) + render_to_string(
        "orders/nav_basket.html", {"basket_line_count": count, "oob": True}, request=request
    )
    response = HttpResponse(html)
    trigger_client_event(response, "basket-changed")
    return response


def _basket_context(retailer: Retailer, **extra: Any) -> dict[str, Any]:
    return {"summary": selectors.basket_summary(retailer=retailer), **extra}


@require_GET
@retailer_required
def basket(request: HttpRequest) -> HttpResponse:
    context = _basket_context(request.user.retailer)
    template = f"{BASKET_TEMPLATE}#basket" if request.htmx else BASKET_TEMPLATE
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_POST
@retailer_required
def basket_add(request: HttpRequest) -> HttpResponse:
    """Add a product from anywhere: the basket page gets its updated basket, a product card a short status."""
    retailer = request.user.retailer
    form = AddToBasketForm(request.POST)
    error = ""
    line = None
    if form.is_valid():
        product = form.cleaned_data["product"]
        try:
            line = services.basket_add_product(
                retailer=retailer, product=product, quantity=form.cleaned_data["quantity"]
            )
        except ValidationError as exc:
            error = _first_error(exc)
        else:
            event_record_tracked(retailer=retailer, product=product, kind=Kind.ADD, data=request.POST)
    else:
        error = _first_error(form)
    if not request.htmx:
        if error:
            messages.error(request, error)
        else:
            messages.success(
                request, f"Added {line.product.name} to your basket ({line.quantity} in basket)."
            )
        return _redirect_back(request)
    if request.htmx.target == "basket":
        return _basket_changed_response(request, "basket", _basket_context(retailer, error=error))
    return _basket_changed_response(request, "added", {"line": line, "error": error})


@require_POST
@retailer_required
def basket_line_update(request: HttpRequest, line_id: int) -> HttpResponse:
    retailer = request.user.retailer
    line = _get_basket_line_for_user(retailer, line_id)
    form = LineQuantityForm(request.POST)
    error = ""
    if form.is_valid():
        services.basket_set_quantity(line=line, quantity=form.cleaned_data["quantity"])
    else:
        error = _first_error(form)
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect("orders:basket")
    return _basket_changed_response(request, "basket", _basket_context(retailer, error=error))


@require_POST
@retailer_required
def basket_line_remove(request: HttpRequest, line_id: int) -> HttpResponse:
    retailer = request.user.retailer
    line = _get_basket_line_for_user(retailer, line_id)
    services.basket_remove_line(line=line)
    if not request.htmx:
        messages.success(request, f"Removed {line.product.name} from your basket.")
        return redirect("orders:basket")
    return _basket_changed_response(request, "basket", _basket_context(retailer))


@require_GET
@retailer_required
def basket_suggestions(request: HttpRequest) -> HttpResponse:
    """Re-predict what completes the basket. htmx loads it into the basket page after every change; without
    JavaScript the link to this URL shows the basket with the suggestions inline."""
    retailer = request.user.retailer
    summary = selectors.basket_summary(retailer=retailer)
    version = active_version()
    suggestions = [
        suggestion
        for suggestion in basket_completion(
            retailer=retailer, product_ids=summary.product_ids, limit=SUGGESTION_LIMIT, version=version
        )
        if suggestion.product.is_active
    ]
    version_id = version.pk if version else None
    events_record(
        retailer=retailer,
        events=[
            Event(
                product_id=s.product.pk,
                surface=Surface.BASKET,
                kind=Kind.IMPRESSION,
                model_version_id=version_id,
            )
            for s in suggestions
        ],
    )
    context = {
        "summary": summary,
        "suggestions": suggestions,
        "suggestions_loaded": True,
        "model_version_id": version_id,
    }
    template = f"{BASKET_TEMPLATE}#suggestions" if request.htmx else BASKET_TEMPLATE
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_http_methods(["GET", "POST"])
@retailer_required
def basket_place(request: HttpRequest) -> HttpResponse:
    """GET is the confirmation step (without JavaScript; htmx asks with hx-confirm); POST places."""
    retailer = request.user.retailer
    summary = selectors.basket_summary(retailer=retailer)
    if request.method == "GET":
        return render(request, "orders/place_confirm.html", {"summary": summary})
    if summary.basket is None:
        error = "Your basket is empty: add products before placing the order."
    else:
        try:
            order = services.order_place(order=summary.basket)
        except ValidationError as exc:
            error = _first_error(exc)
        else:
            messages.success(request, f"Order #{order.number} placed. Thank you!")
            if request.htmx:
                return HttpResponseClientRedirect(reverse("orders:detail", args=[order.pk]))
            return redirect("orders:detail", order_id=order.pk)
    if request.htmx:
        return _basket_changed_response(request, "basket", _basket_context(retailer, error=error))
    messages.error(request, error)
    return redirect("orders:basket")


@require_GET
@retailer_required
def order_list(request: HttpRequest) -> HttpResponse:
    form = OrderFilterForm(request.GET)
    form.is_valid()
    filters = form.cleaned_data
    orders = selectors.orders_for_retailer(
        retailer=request.user.retailer,
        query=filters.get("q", ""),
        date_from=filters.get("date_from"),
        date_to=filters.get("date_to"),
    )
    page = Paginator(orders, user_page_size(user=request.user)).get_page(request.GET.get("page"))
    context = {"form": form, "page": page}
    if request.htmx and not request.htmx.history_restore_request:
        # The address bar gets the filters without the empty fields the form submits.
        params = {name: value for name, value in request.GET.items() if value}
        url = f"{request.path}?{urlencode(params)}" if params else request.path
        response = push_url(render(request, "orders/list.html#results", context), url)
    else:
        response = render(request, "orders/list.html", context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_GET
@retailer_required
def order_detail(request: HttpRequest, order_id: int) -> HttpResponse:
    order = _get_order_for_user(request.user.retailer, order_id)
    lines = selectors.order_lines(order=order)
    context = {
        "order": order,
        "lines": lines,
        "total": sum((line.line_total for line in lines), Decimal("0.00")),
    }
    return render(request, "orders/detail.html", context)


@require_POST
@retailer_required
def order_reorder(request: HttpRequest, order_id: int) -> HttpResponse:
    retailer = request.user.retailer
    order = _get_order_for_user(retailer, order_id)
    result = services.order_reorder(retailer=retailer, order=order)
    if result.added:
        count = len(result.added)
        messages.success(
            request,
            f"Added {count} product{'s' if count != 1 else ''} from order #{order.number} to your basket.",
        )
    if result.skipped:
        names = ", ".join(product.name for product in result.skipped)
        messages.warning(request, f"Skipped, no longer available: {names}.")
    return redirect("orders:basket")
