from datetime import date, timedelta

import factory
from django.utils import timezone

from vendors.models import ForecastRun, ProductForecast, Vendor, VendorAnalytics


class VendorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Vendor

    name = factory.Sequence(lambda n: f"Vendor {n}")
    slug = factory.Sequence(lambda n: f"vendor-{n}")
    contact_email = factory.LazyAttribute(lambda vendor: f"sales@{vendor.slug}.example")


class ForecastRunFactory(factory.django.DjangoModelFactory):
    """A finished run (as a forecast refresh leaves it); its series are ProductForecastFactory rows."""

    class Meta:
        model = ForecastRun

    vendor = factory.SubFactory(VendorFactory)
    status = ForecastRun.Status.DONE
    last_week = date(2026, 5, 25)
    series = 0
    seconds = 1.5
    backtest = factory.LazyFunction(
        lambda: {
            "seasonal_naive": {
                "wape": 0.42,
                "mase": 1.0,
                "bias": 0.01,
                "coverage@80": 0.8,
                "coverage@95": 0.9,
            },
            "protocol": {"windows": 4, "horizon": 8},
        }
    )


class ProductForecastFactory(factory.django.DjangoModelFactory):
    """One series of a run: a product's by default, the vendor's total with `product=None`."""

    class Meta:
        model = ProductForecast

    run = factory.SubFactory(ForecastRunFactory)
    product = factory.SubFactory(
        "catalog.tests.factories.ProductFactory", vendor=factory.SelfAttribute("..run.vendor")
    )
    method = "seasonal_naive"
    method_label = "Same week last year"
    reason = "Its backtest error (WAPE 42%) was the lowest of the methods tried."
    backtest_wape = 0.42
    naive_wape = 0.5
    backtest_windows = 4
    weeks = factory.LazyAttribute(
        lambda forecast: [
            {
                "week": (forecast.run.last_week + timedelta(weeks=ahead)).isoformat(),
                "point": 3.0,
                "lo80": 2.0,
                "hi80": 4.0,
                "lo95": 1.0,
                "hi95": 5.0,
            }
            for ahead in range(1, forecast.run.horizon + 1)
        ]
    )
    horizon_units = factory.LazyAttribute(lambda forecast: sum(week["point"] for week in forecast.weeks))


class VendorAnalyticsFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = VendorAnalytics
        django_get_or_create = ["vendor"]

    vendor = factory.SubFactory(VendorFactory)
    as_of = date(2026, 5, 31)
    rollups_refreshed_at = factory.LazyFunction(timezone.now)
