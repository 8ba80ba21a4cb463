from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "SmartBasket admin"
admin.site.site_title = "SmartBasket admin"
admin.site.index_title = "Platform data"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("vendor/", include("vendors.urls")),
    path("dashboard/", include("recommendations.urls")),
    path("catalogue/", include("catalog.urls")),
    path("api/", include("smartbasket.api_urls")),
    path("", include("orders.urls")),
    path("", include("accounts.urls")),
]
