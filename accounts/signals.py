"""A password change or a deactivation signs the user out of every device.

Done with signals on `User` rather than in a service because a password changes on many paths — the
portal's password change and reset forms, the admin, `manage.py changepassword`, `set_password()` plus
`save()` in a shell, the API — and every one ends in `User.save()`. `pre_save` compares the stored password
hash and `is_active` with the ones being saved (one query, skipped when `update_fields` touches neither);
`post_save` then blacklists all of the user's outstanding refresh tokens in bulk. A caller's transaction
(the API's and the admin's are atomic) covers both the save and the blacklisting. A `QuerySet.update()`
bypasses signals, but such a token still fails the `hash_password` check (accounts/api_auth.py).
"""

from typing import Any

from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from accounts import services
from accounts.models import User

_REVOKE_FIELDS = {"password", "is_active"}


@receiver(pre_save, sender=User, dispatch_uid="accounts.note_credential_change")
def note_credential_change(
    sender: type[User], instance: User, raw: bool = False, update_fields: Any = None, **kwargs: Any
) -> None:
    instance._revoke_refresh_tokens = False
    if raw or instance.pk is None:
        return
    if update_fields is not None and not _REVOKE_FIELDS & set(update_fields):
        return
    stored = User.objects.filter(pk=instance.pk).values_list("password", "is_active").first()
    if stored is None:
        return
    password, was_active = stored
    instance._revoke_refresh_tokens = password != instance.password or (was_active and not instance.is_active)


@receiver(post_save, sender=User, dispatch_uid="accounts.revoke_refresh_tokens")
def revoke_refresh_tokens(sender: type[User], instance: User, raw: bool = False, **kwargs: Any) -> None:
    if raw or not getattr(instance, "_revoke_refresh_tokens", False):
        return
    instance._revoke_refresh_tokens = False
    services.user_tokens_revoke(user_id=instance.pk)
