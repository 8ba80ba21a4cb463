from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.utils.http import urlencode
from django.views.decorators.http import require_GET
from django_htmx.http import push_url

from accounts.decorators import retailer_required
from accounts.selectors import user_page_size
from catalog.forms import ProductFilterForm
from catalog.models import Product
from catalog.selectors import category_tree, product_for_catalogue, product_purchase_history, product_search
from recommendations.feedback import events_record
from recommendations.selectors import related_to

RELATED_LIMIT = 6
# The element the purchase history's page links swap: an htmx request aimed at it gets only that list.
PURCHASES_ID = "product-purchases"


def _wants_partial(request: HttpRequest) -> bool:
    # A history restore after a cache miss asks for the whole page even though it comes from htmx.
    return bool(request.htmx) and not request.htmx.history_restore_request


def _shareable_url(request: HttpRequest) -> str:
    """The page's URL without the empty fields a form submits, for the address bar and shared links."""
    params = {name: value for name, value in request.GET.items() if value}
    return f"{request.path}?{urlencode(params)}" if params else request.path


def _get_product_for_user(product_id: int) -> Product:
    product = product_for_catalogue(product_id=product_id)
    if product is None:
        raise Http404("No such product")
    return product


@require_GET
@retailer_required
def product_list(request: HttpRequest) -> HttpResponse:
    form = ProductFilterForm(request.GET)
    filters = form.to_filters()
    products = product_search(retailer=request.user.retailer, filters=filters)
    page = Paginator(products, user_page_size(user=request.user)).get_page(request.GET.get("page"))
    context = {"form": form, "filters": filters, "page": page}
    if _wants_partial(request):
        response = push_url(render(request, "catalog/list.html#results", context), _shareable_url(request))
    else:
        context["categories"] = category_tree()
        response = render(request, "catalog/list.html", context)
    # Partial and full responses share a URL: caches must keep them apart.
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_GET
@retailer_required
def product_detail(request: HttpRequest, product_id: int) -> HttpResponse:
    product = _get_product_for_user(product_id)
    retailer = request.user.retailer
    history = Paginator(
        product_purchase_history(retailer=retailer, product=product), user_page_size(user=request.user)
    ).get_page(request.GET.get("page"))
    context = {"product": product, "history": history}
    if _wants_partial(request) and request.htmx.target == PURCHASES_ID:
        response = render(request, "catalog/detail.html#purchases", context)
    else:
        related = related_to(product=product, limit=RELATED_LIMIT)
        # One INSERT for every recommendation shown on the page, so staff can compare surfaces and versions.
        events_record(retailer=retailer, events=related.impressions())
        context |= {"bought_together": related.bought_together, "similar": related.similar}
        response = render(request, "catalog/detail.html", context)
    patch_vary_headers(response, ["HX-Request", "HX-Target"])
    return response
