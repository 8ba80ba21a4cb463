"""Role gates for portal views.

Anonymous visitors are sent to the login page; a signed-in member of the wrong kind of organisation gets 403,
because the page exists but is not theirs. The tenant itself is never passed around: views read it from
`request.user.retailer` / `request.user.vendor`, which the role check guarantees is set.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from accounts.models import User

View = Callable[..., HttpResponse]


def _role_required(role: str) -> Callable[[View], View]:
    def decorator(view: View) -> View:
        @wraps(view)
        @login_required
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.user.role != role:
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


retailer_required = _role_required(User.Role.RETAILER)
vendor_required = _role_required(User.Role.VENDOR)
