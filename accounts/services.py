from django.db import transaction

from accounts.models import User


@transaction.atomic
def user_update_profile(*, user: User, first_name: str, last_name: str, email: str) -> User:
    user.first_name = first_name
    user.last_name = last_name
    user.email = email
    user.save(update_fields=["first_name", "last_name", "email"])
    return user


@transaction.atomic
def user_update_settings(*, user: User, items_per_page: int, email_opt_in: bool) -> User:
    user.items_per_page = items_per_page
    user.email_opt_in = email_opt_in
    user.save(update_fields=["items_per_page", "email_opt_in"])
    return user
