"""The mobile JSON API, mounted under /api/. Clients authenticate with a JWT from /api/token/."""

from django.urls import path
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from catalog import api as catalog_api
from orders import api as orders_api
from recommendations import api as recommendations_api

urlpatterns = [
    path("token/", TokenObtainPairView.as_view(), name="api-token"),
    path("token/refresh/", TokenRefreshView.as_view(), name="api-token-refresh"),
    path("products/", catalog_api.product_list, name="api-products"),
    path(
        "products/<int:product_id>/related/", recommendations_api.product_related, name="api-product-related"
    ),
    path("recommendations/", recommendations_api.recommendation_list, name="api-recommendations"),
    path("basket/", orders_api.basket, name="api-basket"),
    path("basket/place/", orders_api.basket_place, name="api-basket-place"),
    path("basket/suggestions/", orders_api.basket_suggestions, name="api-basket-suggestions"),
    path("orders/", orders_api.order_list, name="api-orders"),
    path("orders/<int:order_id>/", orders_api.order_detail, name="api-order-detail"),
]
