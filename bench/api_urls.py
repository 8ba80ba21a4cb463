"""The project's URLs plus `/bench/bare/`, the reference of bench/api_throughput.py (bench.api_settings).

The bare view goes through the same middleware as every API request but does no authentication, query or
serialization: the floor an endpoint's throughput is compared with.
"""

from django.http import HttpRequest, JsonResponse
from django.urls import include, path


def bare(request: HttpRequest) -> JsonResponse:
    """The smallest Django JSON answer: what the API's overhead is measured against."""
    return JsonResponse({"ok": True})


urlpatterns = [
    path("bench/bare/", bare, name="bench-bare"),
    path("", include("smartbasket.urls")),
]
