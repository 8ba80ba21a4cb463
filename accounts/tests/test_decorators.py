import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from accounts.decorators import retailer_required, vendor_required
from accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@retailer_required
def retailer_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse(request.user.retailer.name)


@vendor_required
def vendor_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse(request.user.vendor.name)


def _request(user: object) -> HttpRequest:
    request = RequestFactory().get("/somewhere/")
    request.user = user
    return request


def test_retailer_required_lets_a_retailer_member_through() -> None:
    user = UserFactory()

    response = retailer_view(_request(user))

    assert response.content.decode() == user.retailer.name


@pytest.mark.parametrize("traits", [{"vendor_member": True}, {"staff_member": True}])
def test_retailer_required_forbids_other_roles(traits: dict) -> None:
    with pytest.raises(PermissionDenied):
        retailer_view(_request(UserFactory(**traits)))


def test_vendor_required_lets_a_vendor_member_through() -> None:
    user = UserFactory(vendor_member=True)

    response = vendor_view(_request(user))

    assert response.content.decode() == user.vendor.name


@pytest.mark.parametrize("traits", [{}, {"staff_member": True}])
def test_vendor_required_forbids_other_roles(traits: dict) -> None:
    with pytest.raises(PermissionDenied):
        vendor_view(_request(UserFactory(**traits)))


@pytest.mark.parametrize("view", [retailer_view, vendor_view])
def test_role_gates_send_anonymous_visitors_to_login(view: object) -> None:
    response = view(_request(AnonymousUser()))

    assert response.status_code == 302
    assert response.url.startswith("/login/?next=/somewhere/")
