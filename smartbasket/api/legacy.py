"""The unversioned /api/ paths of the first mobile release, kept for one release as permanent redirects.

Each answers `308 Permanent Redirect` to its /api/v1/ successor (a 308 keeps the method and the body, so a
POST stays a POST), with `Deprecation` (RFC 9745), `Sunset` (RFC 8594) and a `Link: rel="successor-version"`
header. The v1 answers have the v1 shapes, which the README's API section describes.
"""

from collections.abc import Callable
from datetime import UTC, datetime

from django.http import HttpRequest, HttpResponse
from django.urls import path, re_path, reverse
from django.utils.http import http_date

from smartbasket.api.errors import json_not_found

# When the unversioned paths were declared deprecated (the release that added /api/v1/) and when they go.
DEPRECATED_AT = datetime(2026, 12, 2, tzinfo=UTC)
SUNSET_AT = datetime(2027, 6, 30, tzinfo=UTC)


def _redirect(request: HttpRequest, *, get: str, post: str | None = None, **kwargs: int) -> HttpResponse:
    name = post if request.method == "POST" and post else get
    target = reverse(name, kwargs=kwargs or None)
    if request.META.get("QUERY_STRING"):
        target = f"{target}?{request.META['QUERY_STRING']}"
    response = HttpResponse(status=308)
    response["Location"] = target
    response["Deprecation"] = f"@{int(DEPRECATED_AT.timestamp())}"
    response["Sunset"] = http_date(SUNSET_AT.timestamp())
    response["Link"] = f'<{target}>; rel="successor-version"'
    return response


def _to(get: str, post: str | None = None) -> Callable[..., HttpResponse]:
    def view(request: HttpRequest, **kwargs: int) -> HttpResponse:
        return _redirect(request, get=get, post=post, **kwargs)

    return view


urlpatterns = [
    path("token/", _to("api-v1-token"), name="api-token"),
    path("token/refresh/", _to("api-v1-token-refresh"), name="api-token-refresh"),
    path("products/", _to("api-v1-products"), name="api-products"),
    path("products/<int:product_id>/related/", _to("api-v1-product-detail"), name="api-product-related"),
    path("recommendations/", _to("api-v1-recommendations"), name="api-recommendations"),
    path("basket/", _to("api-v1-basket", post="api-v1-basket-items"), name="api-basket"),
    path("basket/place/", _to("api-v1-basket-place"), name="api-basket-place"),
    path("basket/suggestions/", _to("api-v1-next-item"), name="api-basket-suggestions"),
    path("orders/", _to("api-v1-orders"), name="api-orders"),
    path("orders/<int:order_id>/", _to("api-v1-order-detail"), name="api-order-detail"),
    re_path(r"^.*$", json_not_found, name="api-not-found"),
]
