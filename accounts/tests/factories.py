import factory

from accounts.models import EmailDelivery, Retailer, User
from vendors.tests.factories import VendorFactory

# Every factory user logs in with this password, so client.login() works in any test.
DEFAULT_PASSWORD = "correct-horse-battery-staple"


class RetailerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Retailer

    name = factory.Sequence(lambda n: f"Corner Shop {n}")
    city = "Leeds"
    region = "Yorkshire"
    country = "United Kingdom"
    segment = Retailer.Segment.CONVENIENCE
    size = Retailer.Size.SMALL


class UserFactory(factory.django.DjangoModelFactory):
    """A retailer member by default; pass `vendor_member=True` or `staff_member=True` for the other roles."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password(DEFAULT_PASSWORD)
    role = User.Role.RETAILER
    retailer = factory.SubFactory(RetailerFactory)
    vendor = None

    class Params:
        vendor_member = factory.Trait(
            role=User.Role.VENDOR, retailer=None, vendor=factory.SubFactory(VendorFactory)
        )
        staff_member = factory.Trait(
            role=User.Role.STAFF, retailer=None, vendor=None, is_staff=True, is_superuser=True
        )


class EmailDeliveryFactory(factory.django.DjangoModelFactory):
    """A reorder digest sent to a retailer member."""

    class Meta:
        model = EmailDelivery

    kind = EmailDelivery.Kind.REORDER_DIGEST
    user = factory.SubFactory(UserFactory)
    key = factory.Sequence(lambda n: f"2026-W{n % 52 + 1:02d}")
    to_email = factory.LazyAttribute(lambda delivery: delivery.user.email)
    subject = "3 products due for reorder"
