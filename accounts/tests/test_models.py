import pytest
from django.db import IntegrityError, transaction

from accounts.models import User
from accounts.tests.factories import RetailerFactory, UserFactory
from vendors.tests.factories import VendorFactory

pytestmark = pytest.mark.django_db


def test_it_rejects_a_retailer_member_without_a_retailer() -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        UserFactory(retailer=None)


def test_it_rejects_a_retailer_member_who_also_belongs_to_a_vendor() -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        UserFactory(vendor=VendorFactory())


def test_it_rejects_a_vendor_member_without_a_vendor() -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        UserFactory(vendor_member=True, vendor=None)


def test_it_rejects_a_vendor_member_who_also_belongs_to_a_retailer() -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        UserFactory(vendor_member=True, retailer=RetailerFactory())


def test_it_rejects_staff_attached_to_an_organisation() -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        UserFactory(staff_member=True, retailer=RetailerFactory())


def test_each_role_factory_satisfies_the_constraint() -> None:
    assert UserFactory().is_retailer_member
    assert UserFactory(vendor_member=True).is_vendor_member
    assert UserFactory(staff_member=True).role == User.Role.STAFF


def test_create_superuser_makes_a_staff_member_without_organisation() -> None:
    user = User.objects.create_superuser("root", "root@example.com", "a-long-password-1")

    assert user.role == User.Role.STAFF
    assert user.retailer_id is None
    assert user.vendor_id is None


def test_new_users_get_default_preferences() -> None:
    user = UserFactory()

    assert user.items_per_page == 25
    assert user.email_opt_in is False


def test_it_rejects_a_second_retailer_with_the_same_external_ref() -> None:
    RetailerFactory(external_ref="17850")

    with pytest.raises(IntegrityError), transaction.atomic():
        RetailerFactory(external_ref="17850")


def test_it_allows_many_retailers_without_external_ref() -> None:
    RetailerFactory(external_ref="")
    RetailerFactory(external_ref="")
