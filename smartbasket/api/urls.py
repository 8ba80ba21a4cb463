"""The mobile JSON API, version 1, mounted at /api/v1/.

Clients sign in at `token/` and send `Authorization: Bearer <access>`; the schema is at `schema/`, Swagger UI
at `docs/` and ReDoc at `redoc/`. Route names start with `api-v1-`.
"""

from django.urls import path, re_path

from accounts import api as accounts_api
from catalog import api as catalog_api
from orders import api as orders_api
from recommendations import api as recommendations_api
from recommendations import api_predictions as recommendations_api_predictions
from smartbasket.api import docs, schema  # noqa: F401  (schema registers the JWT scheme)
from smartbasket.api.errors import json_not_found

urlpatterns = [
    path("token/", accounts_api.token_obtain, name="api-v1-token"),
    path("token/refresh/", accounts_api.token_refresh, name="api-v1-token-refresh"),
    path("token/verify/", accounts_api.token_verify, name="api-v1-token-verify"),
    path("token/logout/", accounts_api.token_logout, name="api-v1-token-logout"),
    path("users/me/", accounts_api.me, name="api-v1-me"),
    path("users/me/password/", accounts_api.password_change, name="api-v1-password"),
    path("categories/", catalog_api.category_list, name="api-v1-categories"),
    path("vendors/", catalog_api.vendor_list, name="api-v1-vendors"),
    path("products/", catalog_api.product_list, name="api-v1-products"),
    path("products/<int:product_id>/", recommendations_api.product_detail, name="api-v1-product-detail"),
    path("basket/", orders_api.basket, name="api-v1-basket"),
    path("basket/items/", orders_api.basket_items, name="api-v1-basket-items"),
    path("basket/items/<int:product_id>/", orders_api.basket_item, name="api-v1-basket-item"),
    path("basket/place/", orders_api.basket_place, name="api-v1-basket-place"),
    path("orders/", orders_api.order_list, name="api-v1-orders"),
    path("orders/<int:order_id>/", orders_api.order_detail, name="api-v1-order-detail"),
    path("orders/<int:order_id>/reorder/", orders_api.order_reorder, name="api-v1-order-reorder"),
    path("recommendations/", recommendations_api.recommendation_list, name="api-v1-recommendations"),
    path("due/", recommendations_api.due_list, name="api-v1-due"),
    path("due/add-to-basket/", recommendations_api.due_add_to_basket, name="api-v1-due-add"),
    path("predictions/", recommendations_api_predictions.prediction_history, name="api-v1-predictions"),
    path("predictions/next-item/", recommendations_api_predictions.next_item, name="api-v1-next-item"),
    # The path as the seed's clients call it, without the trailing slash; the schema lists the one above.
    path(
        "predictions/next-item",
        recommendations_api_predictions.next_item_unslashed,
        name="api-v1-next-item-unslashed",
    ),
    path("feedback/", recommendations_api_predictions.feedback_batch, name="api-v1-feedback"),
    path("schema/", docs.schema, name="api-v1-schema"),
    path("docs/", docs.swagger_ui, name="api-v1-docs"),
    path("redoc/", docs.redoc, name="api-v1-redoc"),
    re_path(r"^.*$", json_not_found, name="api-v1-not-found"),
]
