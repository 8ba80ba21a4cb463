from django.urls import path

from recommendations import views

app_name = "recommendations"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("due/add/", views.due_add, name="due_add"),
    path("products/<int:product_id>/", views.product_open, name="product_open"),
    path("history/", views.history, name="history"),
]
