"""The API's error body, in a module that imports nothing of DRF: login protection builds it too, and DRF's
settings import our throttles, which import login protection."""

from typing import Any


def error_body(*, code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}
