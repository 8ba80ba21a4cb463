from django.contrib.auth.models import AnonymousUser
from django.urls import reverse

from accounts.models import Retailer, User
from vendors.models import Vendor

_LANDING_URL_NAMES = {
    User.Role.RETAILER: "recommendations:dashboard",
    User.Role.VENDOR: "vendors:home",
    User.Role.STAFF: "admin:index",
}


def user_landing_url(*, user: User) -> str:
    """Where a signed-in user starts: each role has exactly one home."""
    return reverse(_LANDING_URL_NAMES[User.Role(user.role)])


def user_page_size(*, user: User | AnonymousUser) -> int:
    """How many rows a paginated list shows this user: the "rows per page" setting, everywhere."""
    return getattr(user, "items_per_page", None) or User.ItemsPerPage.TWENTY_FIVE


def user_organisation(*, user: User) -> Retailer | Vendor | None:
    if user.role == User.Role.RETAILER:
        return user.retailer
    if user.role == User.Role.VENDOR:
        return user.vendor
    return None


def user_for_profile(*, user_id: int) -> User:
    # One query for the profile page: the organisation is shown next to the person.
    return User.objects.select_related("retailer", "vendor").get(pk=user_id)
