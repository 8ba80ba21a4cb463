from datetime import timedelta

import factory
from django.utils import timezone

from accounts.tests.factories import RetailerFactory
from catalog.tests.factories import ProductFactory
from recommendations import explanations
from recommendations.models import (
    ItemVector,
    ModelVersion,
    ProductAssociation,
    Recommendation,
    RecommendationEvent,
    ReorderPrediction,
    SimilarProduct,
    TaskOutbox,
    TrainingRun,
)


class ModelVersionFactory(factory.django.DjangoModelFactory):
    """The active version by default (reused when one exists: the database allows only one)."""

    class Meta:
        model = ModelVersion

    kind = "hybrid"
    status = ModelVersion.Status.ACTIVE
    data_cutoff = factory.LazyFunction(timezone.now)
    activated_at = factory.LazyAttribute(
        lambda v: timezone.now() if v.status == ModelVersion.Status.ACTIVE else None
    )

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        if kwargs.get("status") == ModelVersion.Status.ACTIVE:
            active = model_class.objects.filter(status=ModelVersion.Status.ACTIVE).first()
            if active is not None:
                return active
        return super()._create(model_class, *args, **kwargs)


def _active_version() -> ModelVersion:
    return ModelVersionFactory(status=ModelVersion.Status.ACTIVE)


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
    probability = 0.35
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


class ReorderPredictionFactory(factory.django.DjangoModelFactory):
    """A product that fell due yesterday."""

    class Meta:
        model = ReorderPrediction

    model_version = factory.LazyFunction(_active_version)
    retailer = factory.SubFactory(RetailerFactory)
    product = factory.SubFactory(ProductFactory)
    cadence_days = 14.0
    last_ordered = factory.LazyFunction(lambda: timezone.localdate() - timedelta(days=15))
    expected_date = factory.LazyAttribute(lambda p: p.last_ordered + timedelta(days=round(p.cadence_days)))
    confidence = 0.7
    suggested_quantity = 6
    times_ordered = 5


class RecommendationEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RecommendationEvent

    retailer = factory.SubFactory(RetailerFactory)
    product = factory.SubFactory(ProductFactory)
    model_version = factory.LazyFunction(_active_version)
    surface = RecommendationEvent.EventSurface.FOR_YOU
    kind = RecommendationEvent.Kind.IMPRESSION


class ProductAssociationFactory(factory.django.DjangoModelFactory):
    """An "often bought together" row of the active version: 212 of the product's 1,340 orders, lift 3.2."""

    class Meta:
        model = ProductAssociation

    model_version = factory.LazyFunction(_active_version)
    product = factory.SubFactory(ProductFactory)
    other = factory.SubFactory(ProductFactory)
    together = 212
    product_orders = 1340
    other_orders = 900
    n_orders = 20000
    support = 0.01
    confidence = 0.16
    lift = 3.2
    rank = 0
    explanation = factory.LazyAttribute(
        lambda a: explanations.association_sentence(
            product_name=a.product.name, together=a.together, product_orders=a.product_orders, lift=a.lift
        )
    )


class SimilarProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SimilarProduct

    model_version = factory.LazyFunction(_active_version)
    product = factory.SubFactory(ProductFactory)
    other = factory.SubFactory(ProductFactory)
    similarity = 0.8
    rank = 0


class TrainingRunFactory(factory.django.DjangoModelFactory):
    """A manual retrain that finished and produced the active version."""

    class Meta:
        model = TrainingRun

    model_version = factory.LazyFunction(_active_version)
    status = TrainingRun.Status.SUCCEEDED
    trigger = TrainingRun.Trigger.MANUAL
    started_at = factory.LazyFunction(lambda: timezone.now() - timedelta(minutes=5))
    finished_at = factory.LazyFunction(timezone.now)
    duration = 300.0


class ItemVectorFactory(factory.django.DjangoModelFactory):
    """A product's 4-dimensional float32 embedding in the active version."""

    class Meta:
        model = ItemVector

    model_version = factory.LazyFunction(_active_version)
    product = factory.SubFactory(ProductFactory)
    vector = bytes(16)
    dimensions = 4


class TaskOutboxFactory(factory.django.DjangoModelFactory):
    """A retailer refresh that was queued and is still waiting to be published."""

    class Meta:
        model = TaskOutbox

    task_name = "recommendations.tasks.refresh_retailer"
    args = factory.LazyFunction(lambda: [1])
    celery_task_id = factory.Sequence(lambda n: f"outbox-task-{n}")
