"""Signed unsubscribe tokens: a mail's link stops that kind of mail without signing in.

The token is the user's id and the mail's kind signed with SECRET_KEY (django.core.signing), so it cannot be
forged or pointed at somebody else. It does not expire: an unsubscribe link in an old mail must still work.
"""

from dataclasses import dataclass

from django.core import signing

from accounts.models import EmailDelivery, User

_SALT = "accounts.mail.unsubscribe"

# The setting each kind of mail obeys; unsubscribing turns it off.
SETTING_OF_KIND = {
    EmailDelivery.Kind.ORDER_CONFIRMATION: "email_order_confirmations",
    EmailDelivery.Kind.REORDER_DIGEST: "email_opt_in",
}


@dataclass(frozen=True)
class Subscription:
    user: User
    kind: EmailDelivery.Kind

    @property
    def is_on(self) -> bool:
        return bool(getattr(self.user, SETTING_OF_KIND[self.kind]))


def unsubscribe_token(*, user_id: int, kind: str) -> str:
    return signing.dumps([user_id, kind], salt=_SALT)


def subscription_from_token(*, token: str) -> Subscription | None:
    """The user and kind a token names; None for a token that is forged, damaged or of a deleted user."""
    try:
        user_id, kind = signing.loads(token, salt=_SALT)
    except (signing.BadSignature, TypeError, ValueError):
        return None
    if kind not in SETTING_OF_KIND:
        return None
    user = User.objects.filter(pk=user_id).first()
    return None if user is None else Subscription(user=user, kind=EmailDelivery.Kind(kind))
