from django.urls import path

from orders import views

app_name = "orders"
urlpatterns = [
    path("basket/", views.basket, name="basket"),
    path("basket/add/", views.basket_add, name="basket_add"),
    path("basket/lines/<int:line_id>/", views.basket_line_update, name="basket_line_update"),
    path("basket/lines/<int:line_id>/remove/", views.basket_line_remove, name="basket_line_remove"),
    path("basket/suggestions/", views.basket_suggestions, name="basket_suggestions"),
    path("basket/place/", views.basket_place, name="place"),
    path("orders/", views.order_list, name="list"),
    path("orders/<int:order_id>/", views.order_detail, name="detail"),
    path("orders/<int:order_id>/reorder/", views.order_reorder, name="reorder"),
]
