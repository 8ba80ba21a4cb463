"""One error shape for every API answer that is not a success: `{"error": {"code", "message", "fields"}}`.

`code` is a stable machine-readable string (`validation_error`, `not_authenticated`, `token_not_valid`,
`permission_denied`, `not_found`, `throttled`, `parse_error`, `request_too_large`, ...), `message` a sentence
for a person, and `fields` maps a request field to its messages (empty unless the request had invalid fields).
"""

from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from smartbasket.api.shape import error_body


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested validation detail as `{"field.sub": ["message", ...]}`; errors of the whole body use
    the key `non_field_errors`."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            return {prefix or "non_field_errors": [str(item) for item in detail]}
        flat = {}
        for index, item in enumerate(detail):
            flat.update(_flatten(item, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    return {prefix or "non_field_errors": [str(detail)]}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler (status, headers such as Retry-After and WWW-Authenticate) with our body."""
    if isinstance(exc, RequestDataTooBig):
        exc = exceptions.ParseError("The request body is too large.", code="request_too_large")
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        message = (
            "Some fields are not valid."
            if set(fields) != {"non_field_errors"}
            else fields.pop("non_field_errors")[0]
        )
        response.data = error_body(code="validation_error", message=message, fields=fields)
    elif isinstance(exc, Http404):
        response.data = error_body(code="not_found", message="Not found.")
    elif isinstance(exc, PermissionDenied):
        response.data = error_body(code="permission_denied", message=str(response.data.get("detail", "")))
    elif isinstance(exc, exceptions.APIException):
        detail = exc.detail
        # simplejwt puts its reason in `detail` and a list of token messages beside it.
        if isinstance(detail, dict):
            code = str(detail.get("code", exc.default_code))
            message = str(detail.get("detail", exc.default_detail))
        else:
            code = getattr(detail, "code", None) or exc.default_code
            message = str(detail)
        response.data = error_body(code=str(code), message=message)
    return response


@csrf_exempt
def json_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """An unknown path under /api/ answers in the API's shape, not with the portal's HTML 404 page."""
    return JsonResponse(
        error_body(code="not_found", message="No such endpoint."), status=status.HTTP_404_NOT_FOUND
    )
