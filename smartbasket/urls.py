from django.contrib import admin
from django.urls import include, path

from smartbasket.health import SmartBasketHealthView, monitoring_checks, readiness_checks

admin.site.site_header = "SmartBasket admin"
admin.site.site_title = "SmartBasket admin"
admin.site.index_title = "Platform data"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health/", SmartBasketHealthView.as_view(checks=monitoring_checks()), name="health"),
    path("health/ready/", SmartBasketHealthView.as_view(checks=readiness_checks()), name="health_ready"),
    path("vendor/", include("vendors.urls")),
    path("dashboard/", include("recommendations.urls")),
    path("catalogue/", include("catalog.urls")),
    path("api/v1/", include("smartbasket.api.urls")),
    path("api/", include("smartbasket.api.legacy")),
    path("", include("orders.urls")),
    path("", include("accounts.urls")),
]
