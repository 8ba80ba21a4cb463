"""Factories for the rows the portal reads and writes (the pipeline's factories.py builds whole worlds)."""

from datetime import timedelta

import factory
from django.utils import timezone

from accounts.tests.factories import RetailerFactory
from catalog.tests.factories import ProductFactory
from recommendations.models import ModelVersion, Recommendation, RecommendationEvent, ReorderPrediction
from recommendations.tests.factories import ModelVersionFactory


class ActiveModelVersionFactory(ModelVersionFactory):
    status = ModelVersion.Status.ACTIVE
    data_cutoff = factory.LazyFunction(timezone.now)
    activated_at = factory.LazyFunction(timezone.now)


def _active_version() -> ModelVersion:
    # Only one version may be active: rows created without a version share it.
    return (
        ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first() or ActiveModelVersionFactory()
    )


class RecommendationFactory(factory.django.DjangoModelFactory):
    """A "for you" row of the active version, explained by regional popularity (what a newcomer gets)."""

    class Meta:
        model = Recommendation

    model_version = factory.LazyFunction(_active_version)
    retailer = factory.SubFactory(RetailerFactory)
    product = factory.SubFactory(ProductFactory)
    surface = "for_you"
    rank = factory.Sequence(lambda n: n + 1)
    score = 0.8
    reasons = factory.LazyAttribute(
        lambda row: [
            {
                "kind": "popular",
                "weight": 1.0,
                "facts": {
                    "retailers": 7,
                    "window_days": 30,
                    "scope": "region",
                    "scope_value": row.retailer.region,
                },
            }
        ]
    )
    explanation = factory.LazyAttribute(
        lambda row: f"Popular with 7 retailers in {row.retailer.region} in the last 30 days."
    )


class ReorderPredictionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReorderPrediction

    model_version = factory.LazyFunction(_active_version)
    retailer = factory.SubFactory(RetailerFactory)
    product = factory.SubFactory(ProductFactory)
    expected_date = factory.LazyFunction(lambda: timezone.localdate() - timedelta(days=1))
    confidence = 0.7
    cadence_days = 14.0
    last_ordered = factory.LazyFunction(lambda: timezone.localdate() - timedelta(days=15))
    days_since_last = 15
    suggested_quantity = 6
    times_ordered = 5
    explanation = "You order this about every 14 days; last order 15 days ago."


class RecommendationEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RecommendationEvent

    retailer = factory.SubFactory(RetailerFactory)
    product = factory.SubFactory(ProductFactory)
    model_version = factory.LazyFunction(_active_version)
    surface = RecommendationEvent.EventSurface.FOR_YOU
    kind = RecommendationEvent.Kind.IMPRESSION
