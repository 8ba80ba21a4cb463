"""JSON Web Tokens for the mobile API (simplejwt), with the checks simplejwt 5.5.1 leaves out.

An access token lives 10 minutes; a refresh token 14 days, rotated on every use (the used one is
blacklisted). Every token carries `hash_password`, a digest of the password hash when it was issued, and
every use of a token checks it against the user's current password: a password change ends the user's
access *and* refresh tokens at once, even ones issued before the blacklist saw them (accounts/signals.py
blacklists the refresh tokens too). A token of a deleted or deactivated user is a 401, never a 500.
"""

import functools
import hmac
from typing import Any

from django.db import transaction
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework_simplejwt import authentication
from rest_framework_simplejwt import serializers as jwt_serializers
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken, Token, UntypedToken
from rest_framework_simplejwt.utils import aware_utcnow, datetime_from_epoch

from accounts import user_cache
from accounts.models import User

# `id` is a 64-bit column.
MAX_USER_ID = 2**63


def _token_user(token: Token, *, cached: bool = False) -> User:
    """The active user a token names, with the retailer and vendor (accounts/user_cache.py; `cached` lets
    the row come from Redis).

    Raises `AuthenticationFailed` (401) when the claim is missing or malformed, the user is gone or inactive,
    or the password changed since the token was issued.
    """
    user_id = token.payload.get(api_settings.USER_ID_CLAIM)
    if user_id in (None, ""):
        raise InvalidToken(_("Token contained no recognizable user identification"))
    try:
        user_pk = int(user_id)
    except (TypeError, ValueError):
        user_pk = 0
    # Out of the column's range is no user, and must not reach the query (a database error there is a 500).
    found = (
        user_cache.user_with_organisation(user_id=user_pk, cached=cached)
        if 0 < user_pk < MAX_USER_ID
        else None
    )
    if found is None:
        raise AuthenticationFailed(_("User not found"), code="user_not_found")
    user = found.user
    if not user.is_active:
        raise AuthenticationFailed(_("User is inactive"), code="user_inactive")
    if api_settings.CHECK_REVOKE_TOKEN:
        claim = str(token.payload.get(api_settings.REVOKE_TOKEN_CLAIM, ""))
        if not hmac.compare_digest(claim, found.password_digest):
            raise AuthenticationFailed(_("The user's password has been changed."), code="password_changed")
    return user


# Access tokens verified by this process, by their encoded form. An app sends the same token with each request
# for up to 10 minutes, and verifying it again (base64, JSON, HMAC, the claims; PyJWT checks the token's
# alphabet one character at a time in Python) was a sixth of a cached recommendation read. What a given
# string verifies to never changes but its expiry, so a hit checks `exp` against the clock again; the user
# checks (gone, inactive, password changed) run on every request whatever the cache holds.
VERIFIED_TOKENS = 4096


@functools.lru_cache(maxsize=VERIFIED_TOKENS)
def _verified(raw_token: bytes) -> Token:
    return authentication.JWTAuthentication().get_validated_token(raw_token)


class JWTAuthentication(authentication.JWTAuthentication):
    """simplejwt's bearer authentication, loading the user and the organisation together, from Redis when
    cached there, with a token verified once per process.

    Every API view reads `request.user.retailer`; loading it here saves each request a query.
    """

    def get_validated_token(self, raw_token: bytes) -> Token:
        token = _verified(raw_token)
        try:
            token.check_exp(current_time=aware_utcnow())
        except TokenError:
            # Expired since it was verified: simplejwt's own path answers with its own error.
            return super().get_validated_token(raw_token)
        return token

    def get_user(self, validated_token: Token) -> User:
        return _token_user(validated_token, cached=True)


class TokenPairSerializer(serializers.Serializer):
    """What the token endpoints answer: a short-lived access token and the refresh token to renew it."""

    access = serializers.CharField(read_only=True, help_text="Send as `Authorization: Bearer <access>`.")
    refresh = serializers.CharField(read_only=True, help_text="Single use: each refresh returns a new one.")


class TokenObtainSerializer(jwt_serializers.TokenObtainPairSerializer):
    """Username and password for a token pair. `authenticate()` gets the request, so django-axes counts
    failures and refuses a locked-out client before any password is hashed (accounts/login_protection.py)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Bounded as the model's columns are: an over-long username would otherwise reach axes' failure log
        # (a varchar(255)) and end the request in a database error.
        self.fields[self.username_field] = serializers.CharField(
            write_only=True, max_length=User._meta.get_field(self.username_field).max_length
        )
        self.fields["password"] = jwt_serializers.PasswordField(max_length=4096)

    @classmethod
    def get_token(cls, user: User) -> RefreshToken:
        return RefreshToken.for_user(user)


class TokenRefreshSerializer(serializers.Serializer):
    """A refresh token for a new pair; the one sent is blacklisted (rotation).

    Unlike simplejwt 5.5.1's, a deleted user is a 401 (there it raises `DoesNotExist`, a 500), a changed
    password is a 401 even for a refresh token the blacklist has not seen, and two requests racing with the
    same refresh token cannot both win: the blacklist row is claimed under a row lock.
    """

    refresh = serializers.CharField(write_only=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        refresh = RefreshToken(attrs["refresh"])  # signature, expiry, type and blacklist; TokenError if not
        user = _token_user(refresh)
        with transaction.atomic():
            outstanding, _created = OutstandingToken.objects.get_or_create(
                jti=refresh.payload[api_settings.JTI_CLAIM],
                defaults={
                    "user": user,
                    "token": str(refresh),
                    "created_at": datetime_from_epoch(refresh.payload["iat"]),
                    "expires_at": datetime_from_epoch(refresh.payload["exp"]),
                },
            )
            outstanding = OutstandingToken.objects.select_for_update().get(pk=outstanding.pk)
            _blacklisted, newly = BlacklistedToken.objects.get_or_create(token=outstanding)
            if not newly:
                raise TokenError(_("Token is blacklisted"))
            rotated = RefreshToken.for_user(user)
        return {"access": str(rotated.access_token), "refresh": str(rotated)}


class TokenVerifySerializer(serializers.Serializer):
    """Whether a token would be accepted now: signature, expiry, blacklist, user and password all checked."""

    token = serializers.CharField(write_only=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        token = UntypedToken(attrs["token"])
        jti = token.payload.get(api_settings.JTI_CLAIM)
        if BlacklistedToken.objects.filter(token__jti=jti).exists():
            raise TokenError(_("Token is blacklisted"))
        _token_user(token)
        return {
            "token_type": str(token.payload.get(api_settings.TOKEN_TYPE_CLAIM, "")),
            "expires_at": datetime_from_epoch(token.payload["exp"]),
        }


class TokenVerifyResponseSerializer(serializers.Serializer):
    token_type = serializers.ChoiceField(choices=["access", "refresh"])
    expires_at = serializers.DateTimeField()


class TokenLogoutSerializer(serializers.Serializer):
    """Signs a device out: its refresh token is blacklisted (its access token ends within 10 minutes)."""

    refresh = serializers.CharField(write_only=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        refresh = RefreshToken(attrs["refresh"])  # an already blacklisted token is a TokenError: a 401
        refresh.blacklist()
        return {}


def token_pair_for(user: User) -> dict[str, str]:
    """A fresh pair for `user`, e.g. after a password change so the app stays signed in."""
    refresh = RefreshToken.for_user(user)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}
