from django.db import transaction
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.models import User


@transaction.atomic
def user_update_profile(*, user: User, first_name: str, last_name: str, email: str) -> User:
    user.first_name = first_name
    user.last_name = last_name
    user.email = email
    user.save(update_fields=["first_name", "last_name", "email"])
    return user


@transaction.atomic
def user_update_settings(
    *, user: User, items_per_page: int, email_opt_in: bool, email_order_confirmations: bool
) -> User:
    user.items_per_page = items_per_page
    user.email_opt_in = email_opt_in
    user.email_order_confirmations = email_order_confirmations
    user.save(update_fields=["items_per_page", "email_opt_in", "email_order_confirmations"])
    return user


@transaction.atomic
def user_tokens_revoke(*, user_id: int) -> int:
    """Blacklist every outstanding refresh token of the user; returns how many were still usable."""
    outstanding = OutstandingToken.objects.filter(user_id=user_id, blacklistedtoken__isnull=True)
    created = BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token_id=token_id) for token_id in outstanding.values_list("pk", flat=True)],
        ignore_conflicts=True,
    )
    return len(created)


@transaction.atomic
def user_change_password(*, user: User, password: str) -> User:
    """Set a new password; saving it revokes the user's refresh tokens (accounts/signals.py)."""
    user.set_password(password)
    user.save(update_fields=["password"])
    return user
