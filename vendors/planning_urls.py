from django.urls import path

from vendors import planning_views

# Included by vendors/urls.py under the "vendors" namespace.
urlpatterns = [
    path("products/<int:product_id>/", planning_views.product, name="product"),
    path("products/<int:product_id>/<slug:table>.csv", planning_views.product_csv, name="product_csv"),
    path("forecasts/", planning_views.forecasts, name="forecasts"),
    path("forecasts.csv", planning_views.forecasts_csv, name="forecasts_csv"),
    path("forecasts/<slug:table>.csv", planning_views.forecasts_table_csv, name="forecasts_table_csv"),
    path("insights/", planning_views.insights_page, name="insights"),
    path("insights/<slug:table>.csv", planning_views.insights_csv, name="insights_csv"),
]
