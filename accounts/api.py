"""Sign-in, token rotation and revocation, and the signed-in user's profile, for the mobile API."""

from django.contrib.auth import update_session_auth_hash
from django.db import transaction
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status
from rest_framework.decorators import api_view, throttle_classes
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.views import TokenViewBase

from accounts import services
from accounts.api_auth import (
    TokenObtainSerializer,
    TokenPairSerializer,
    TokenRefreshSerializer,
    TokenVerifyResponseSerializer,
    TokenVerifySerializer,
    token_pair_for,
)
from accounts.serializers import LogoutSerializer, MeSerializer, MeUpdateSerializer, PasswordChangeSerializer
from smartbasket.api.throttling import (
    TokenAddressThrottle,
    TokenRenewalThrottle,
    TokenUsernameThrottle,
    UserRateThrottle,
)

PAIR_EXAMPLE = OpenApiExample(
    "Token pair", value={"access": "eyJhbGciOiJIUzI1NiIs...", "refresh": "eyJhbGciOiJIUzI1NiIs..."}
)
REFRESH_EXAMPLE = OpenApiExample(
    "A refresh token", value={"refresh": "eyJhbGciOiJIUzI1NiIs..."}, request_only=True
)


class _TokenView(TokenViewBase):
    """simplejwt's view (a failed sign-in is a 401 with `WWW-Authenticate`), throttled by client address."""

    throttle_classes = [TokenRenewalThrottle]


class _ObtainView(_TokenView):
    _serializer_class = api_settings.TOKEN_OBTAIN_SERIALIZER
    throttle_classes = [TokenUsernameThrottle, TokenAddressThrottle]


class _RefreshView(_TokenView):
    _serializer_class = api_settings.TOKEN_REFRESH_SERIALIZER

    @transaction.atomic
    def post(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().post(request, *args, **kwargs)


class _VerifyView(_TokenView):
    # Ours, not simplejwt's: a token of a deleted or deactivated user, or from before a password change, is
    # refused here exactly as the API would refuse it.
    serializer_class = TokenVerifySerializer


class _LogoutView(_TokenView):
    _serializer_class = api_settings.TOKEN_BLACKLIST_SERIALIZER

    def post(self, request: Request, *args: object, **kwargs: object) -> Response:
        super().post(request, *args, **kwargs)
        return Response(status=status.HTTP_204_NO_CONTENT)


token_obtain = extend_schema(
    tags=["tokens"],
    auth=[],
    request=TokenObtainSerializer,
    responses={200: TokenPairSerializer},
    examples=[
        OpenApiExample(
            "Sign in", value={"username": "shop1", "password": "demo-pass-123"}, request_only=True
        ),
        PAIR_EXAMPLE,
    ],
    description="Sign in. Throttled per (username, client address) and per address; axes pauses a "
    "client after repeated failures (429 with Retry-After).",
)(_ObtainView).as_view()

token_refresh = extend_schema(
    tags=["tokens"],
    auth=[],
    request=TokenRefreshSerializer,
    responses={200: TokenPairSerializer},
    examples=[REFRESH_EXAMPLE, PAIR_EXAMPLE],
    description="A new token pair; the refresh token given is blacklisted, so using it again is a 401.",
)(_RefreshView).as_view()

token_verify = extend_schema(
    tags=["tokens"],
    auth=[],
    request=TokenVerifySerializer,
    responses={200: TokenVerifyResponseSerializer},
    examples=[
        OpenApiExample("A token", value={"token": "eyJhbGciOiJIUzI1NiIs..."}, request_only=True),
        OpenApiExample(
            "Valid", value={"token_type": "access", "expires_at": "2026-12-02T10:15:00Z"}, response_only=True
        ),
    ],
    description="200 when the API would accept the token now (signature, expiry, blacklist, an active user "
    "and an unchanged password), 401 otherwise.",
)(_VerifyView).as_view()

token_logout = extend_schema(
    tags=["tokens"],
    auth=[],
    request=LogoutSerializer,
    responses={204: None},
    examples=[REFRESH_EXAMPLE],
    description="Sign out: the refresh token is blacklisted.",
)(_LogoutView).as_view()


ME_EXAMPLE = OpenApiExample(
    "A retailer member",
    value={
        "id": 7,
        "username": "shop1",
        "first_name": "Sam",
        "last_name": "Patel",
        "email": "sam@example.com",
        "role": "retailer",
        "items_per_page": 25,
        "email_opt_in": False,
        "email_order_confirmations": True,
        "retailer": {
            "id": 3,
            "name": "Corner Shop 3",
            "city": "Leeds",
            "region": "Yorkshire",
            "country": "United Kingdom",
            "segment": "convenience",
            "size": "small",
        },
    },
    response_only=True,
)


@extend_schema(
    tags=["account"],
    methods=["GET"],
    responses={200: MeSerializer},
    examples=[ME_EXAMPLE],
)
@extend_schema(
    tags=["account"],
    methods=["PATCH"],
    request=MeUpdateSerializer,
    responses={200: MeSerializer},
    examples=[OpenApiExample("Rows per page", value={"items_per_page": 50}, request_only=True), ME_EXAMPLE],
)
@api_view(["GET", "PATCH"])
@throttle_classes([UserRateThrottle])
def me(request: Request) -> Response:
    """The signed-in user's profile and settings, with their retailer (null for vendor members and staff)."""
    user = request.user
    if request.method == "PATCH":
        serializer = MeUpdateSerializer(user, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = {**MeUpdateSerializer(user).data, **serializer.validated_data}
        with transaction.atomic():
            services.user_update_profile(
                user=user, first_name=data["first_name"], last_name=data["last_name"], email=data["email"]
            )
            services.user_update_settings(
                user=user,
                items_per_page=data["items_per_page"],
                email_opt_in=data["email_opt_in"],
                email_order_confirmations=data["email_order_confirmations"],
            )
    return Response(MeSerializer(user).data)


@extend_schema(
    tags=["account"],
    request=PasswordChangeSerializer,
    responses={200: TokenPairSerializer},
    examples=[
        OpenApiExample(
            "Change",
            value={"old_password": "demo-pass-123", "new_password": "a-longer-new-one-42"},
            request_only=True,
        ),
        PAIR_EXAMPLE,
    ],
    description="Every refresh token of the user is revoked and its access tokens stop working; the "
    "answer is a new pair so this app stays signed in.",
)
@api_view(["POST"])
@throttle_classes([UserRateThrottle])
def password_change(request: Request) -> Response:
    serializer = PasswordChangeSerializer(data=request.data, context={"user": request.user})
    serializer.is_valid(raise_exception=True)
    user = services.user_change_password(
        user=request.user, password=serializer.validated_data["new_password"]
    )
    # A portal session calling the API (SessionAuthentication) stays signed in too.
    update_session_auth_hash(request._request, user)
    return Response(token_pair_for(user))
