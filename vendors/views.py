from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.decorators import vendor_required
from vendors import selectors


@vendor_required
def home(request: HttpRequest) -> HttpResponse:
    # The tenant comes from the signed-in member only; no URL parameter can point at another vendor.
    vendor = request.user.vendor
    as_of = selectors.analytics_as_of()
    products = Paginator(
        selectors.vendor_product_performance(vendor=vendor, as_of=as_of), request.user.items_per_page
    ).get_page(request.GET.get("page"))
    if request.htmx:
        return render(request, "vendors/home.html#products", {"products": products})
    context = {
        "vendor": vendor,
        "as_of": as_of,
        "periods": selectors.vendor_period_figures(vendor=vendor, as_of=as_of),
        "top_products": selectors.vendor_top_products(vendor=vendor, as_of=as_of),
        "weekly_demand": selectors.vendor_weekly_demand(vendor=vendor, as_of=as_of),
        "products": products,
    }
    return render(request, "vendors/home.html", context)
