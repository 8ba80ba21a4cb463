"""Schema post-processing: every operation documents the error answers it can give, in the one error shape."""

from typing import Any

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme

ERROR_COMPONENT = "Error"
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "fields"],
            "properties": {
                "code": {"type": "string", "example": "validation_error"},
                "message": {"type": "string", "example": "Some fields are not valid."},
                "fields": {
                    "type": "object",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                    "example": {"quantity": ["Ensure this value is greater than or equal to 1."]},
                },
            },
        }
    },
}
# Answers any endpoint can give: a bad request, no or a bad token, a wrong kind of account, too many requests.
COMMON_ERRORS = {
    "400": "The request is not valid: a field, a query parameter or the body (too large, too deep, not JSON)",
    "401": "No token, or an expired, tampered or revoked one.",
    "403": "The signed-in account is not a retailer member.",
    "429": "Too many requests; `Retry-After` says in how many seconds to try again.",
}
OBJECT_ERRORS = {"404": "No such object for this retailer (another retailer's object is a 404 too)."}


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR_COMPONENT] = ERROR_SCHEMA
    reference = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
    for path, operations in result.get("paths", {}).items():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            errors = dict(COMMON_ERRORS)
            if "{" in path:
                errors.update(OBJECT_ERRORS)
            if not operation.get("security") or operation.get("security") == [{}]:
                errors.pop("403")
            for status, description in errors.items():
                operation["responses"].setdefault(
                    status,
                    {"description": description, "content": {"application/json": {"schema": reference}}},
                )
    return result


class JWTScheme(SimpleJWTScheme):
    """Documents our JWT authentication class as the bearer scheme simplejwt's own is documented with.

    Registered when this module is imported (smartbasket/api/urls.py imports it)."""

    target_class = "accounts.api_auth.JWTAuthentication"
    name = "jwtAuth"
