import factory

from accounts.tests.factories import UserFactory
from notifications.models import EmailDelivery


class EmailDeliveryFactory(factory.django.DjangoModelFactory):
    """A reorder digest sent to a retailer member."""

    class Meta:
        model = EmailDelivery

    kind = EmailDelivery.Kind.REORDER_DIGEST
    user = factory.SubFactory(UserFactory)
    key = factory.Sequence(lambda n: f"2026-W{n % 52 + 1:02d}")
    to_email = factory.LazyAttribute(lambda delivery: delivery.user.email)
    subject = "3 products due for reorder"
