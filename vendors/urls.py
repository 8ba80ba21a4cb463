from django.urls import include, path

from vendors import views

app_name = "vendors"
# The overview and demand breakdowns are here; a product's page, the forecasts and the insights are in
# vendors/planning_urls.py. Both share the "vendors" namespace.
urlpatterns = [
    path("", views.home, name="home"),
    path("overview/<slug:table>.csv", views.overview_csv, name="overview_csv"),
    path("demand/", views.demand, name="demand"),
    path("demand/<slug:table>.csv", views.demand_csv, name="demand_csv"),
    path("", include("vendors.planning_urls")),
]
