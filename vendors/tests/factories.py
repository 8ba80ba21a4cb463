import factory

from vendors.models import Vendor


class VendorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Vendor

    name = factory.Sequence(lambda n: f"Vendor {n}")
    slug = factory.Sequence(lambda n: f"vendor-{n}")
    contact_email = factory.LazyAttribute(lambda vendor: f"sales@{vendor.slug}.example")
