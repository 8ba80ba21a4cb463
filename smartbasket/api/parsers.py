"""JSON bodies with limits: a hostile body is a 400 before it can cost memory or a recursion error.

Python's JSON decoder recurses once per nesting level, so a body of 5,000 `[` raised RecursionError (a 500).
The depth is measured first by one linear scan of the raw text (brackets outside strings), then the body is
decoded; a body larger than API_MAX_BODY_BYTES is refused without being read.
"""

import json
import re
from itertools import accumulate
from typing import IO, Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# A JSON string, matched possessively (never backtracking) up to its closing quote or, unterminated, to the
# end of the text; group 1 is the closing quote, empty when there is none (only the last string can lack it).
_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+("?)', re.DOTALL)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]++")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def exceeds_depth(text: str, limit: int) -> bool:
    """Whether a JSON text nests arrays and objects deeper than `limit`, found without decoding it.

    Strings are removed first (their brackets do not count), then the running depth over the brackets left is
    summed; each step runs in C and in linear time, so a hostile 256 KiB body costs milliseconds. An
    unterminated string makes the text invalid JSON and counts as too deep: decoding it could still recurse
    through its brackets before failing.
    """
    closing_quotes = _STRING.findall(text)
    if closing_quotes and not closing_quotes[-1]:
        return True
    brackets = _NOT_A_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > limit


def _reject_constant(name: str) -> None:
    # NaN and Infinity are not JSON (RFC 8259); Python's decoder accepts them unless told not to.
    raise ValueError(f"{name} is not a valid JSON value")


class BoundedJSONParser(JSONParser):
    def parse(
        self, stream: IO[bytes] | None, media_type: str | None = None, parser_context: Any = None
    ) -> Any:
        if stream is None:
            return {}
        limit = settings.API_MAX_BODY_BYTES
        meta = getattr((parser_context or {}).get("request"), "META", {})
        try:
            declared = int(meta.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            raise ParseError(f"The request body is larger than {limit} bytes.", code="request_too_large")
        # The declared length may be absent or false: what is actually read is bounded too.
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise ParseError(f"The request body is larger than {limit} bytes.", code="request_too_large")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ParseError("The request body is not UTF-8.") from None
        if exceeds_depth(text, settings.API_MAX_JSON_DEPTH):
            raise ParseError(
                f"The JSON body is not valid or is nested deeper than {settings.API_MAX_JSON_DEPTH} levels.",
                code="too_deep",
            )
        try:
            return json.loads(text, parse_constant=_reject_constant) if text.strip() else {}
        except ValueError as exc:
            raise ParseError(f"The request body is not valid JSON: {exc}") from None
