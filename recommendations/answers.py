"""The recommendation API's answers as JSON bytes: put into words once per document, day, lists and limit.

A read used to render the retailer's document at every request: up to 150 items whose reasons become
sentences, then the whole answer encoded as JSON, most of the request's time. The words change only when the
day does ("last ordered 2 Nov, 30 days ago") or the document does (a refresh after an order, a catalogue
change), so with Redis the encoded answer is kept in a hash per (version, retailer), one field per
(document generation, day, lists, limit), and a read is one round trip: a Lua script checks the cached
document's generation against the catalogue stamp and returns the answer if it was rendered already,
queueing the read's impressions with it.

The generation names the exact document an answer was made from (its build time and catalogue stamp); every
write of a cached document writes its generation too (documents.py). An answer is filed under the
generation of the document it was rendered from, so it is found only while that document is the current
one: a refresh never serves the answer of the lists it replaced, and a catalogue change (a new stamp)
renders anew. Without Redis, or with Redis down, the document is read as documents.py reads it and
rendered for this request.
"""

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import redis
from django.core.cache import cache
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from accounts.models import Retailer
from catalog.stamp import CATALOGUE_STAMP_KEY
from recommendations import documents, feedback
from recommendations.models import ModelVersion

# A retailer's answers go with the hash: at most a day after its first answer, whatever is read meanwhile,
# so the fields of past days and past documents never pile up.
ANSWERS_SECONDS = 24 * 60 * 60

# KEYS: the catalogue stamp, the document's generation, the answers hash, the events buffer queue.
# ARGV: the answer's field (without the generation), the time of this read.
# Returns (generation, answer). An answer is served only if the document it was made from is the cached one
# and was made under the current catalogue stamp (a generation starts with its stamp); otherwise the caller
# reads the document, which a new stamp rebuilds. A found answer is "<impressions item>\n<body>": the
# impressions are queued here, in the same round trip, with this read's time, and the body is returned.
_READ = r"""
local stamp = redis.call('GET', KEYS[1])
local generation = redis.call('GET', KEYS[2])
if not generation then
  return {false, false}
end
if not stamp or string.sub(generation, 1, #stamp + 1) ~= stamp .. '|' then
  return {generation, false}
end
local stored = redis.call('HGET', KEYS[3], generation .. '|' .. ARGV[1])
if not stored then
  return {generation, false}
end
local split = string.find(stored, '\n', 1, true)
local impressions = string.sub(stored, 1, split - 1)
if impressions ~= '[]' then
  redis.call('RPUSH', KEYS[4], (string.gsub(impressions, '@now@', ARGV[2])))
end
return {generation, string.sub(stored, split + 1)}
"""


def _answers_key(*, version_id: int, retailer_id: int) -> str:
    # make_key, not make_and_validate_key: these keys are ASCII of our own making, and the validation walks
    # every character in Python on every read.
    return cache.make_key(f"recanswers:v{version_id}:r{retailer_id}")


def list_impressions(
    answer: dict[str, Any], *, names: Sequence[str], surfaces: Mapping[str, str], version_id: int | None
) -> list[feedback.Event]:
    """An impression of every product the answer's lists show, on the list's surface."""
    return [
        feedback.Event(item["product"]["id"], surfaces[name], feedback.Kind.IMPRESSION, version_id)
        for name in names
        for item in answer[name]
    ]


def _rendered(
    document: dict[str, Any], *, names: Sequence[str], limit: int, today: date
) -> tuple[dict[str, Any], bytes]:
    lists = documents.document_lists(document, names=names, limit=limit, today=today)
    answer = {"model_version": document["model_version"], "generated_at": document["generated_at"], **lists}
    # DRF's own renderer, so a cached answer has the bytes an uncached Response would have.
    return answer, JSONRenderer().render(answer)


def answer_read(
    *,
    retailer: Retailer,
    version_id: int,
    names: Sequence[str],
    limit: int,
    today: date,
    surfaces: Mapping[str, str],
) -> bytes:
    """The retailer's lists of the version, `limit` long, in the words of `today`, as the API sends them;
    their impressions (on `surfaces[name]` for each list) are recorded."""
    client = feedback.buffer_client()
    field = f"{today.isoformat()}|{','.join(names)}|{limit}"
    answers_key = _answers_key(version_id=version_id, retailer_id=retailer.pk)
    generation = None
    if client is not None:
        keys = [
            cache.make_key(CATALOGUE_STAMP_KEY),
            documents.generation_key(version_id=version_id, retailer_id=retailer.pk),
            answers_key,
            feedback.buffer_key(feedback.EVENTS_QUEUE),
        ]
        try:
            generation, body = client.eval(_READ, len(keys), *keys, field, timezone.now().isoformat())
        except (redis.RedisError, OSError) as error:
            feedback.buffer_failed(error)
            client = None
        else:
            if body is not None:
                return body
    version = ModelVersion.objects.get(pk=version_id)
    document = documents.document_for(retailer=retailer, version=version)
    answer, body = _rendered(document, names=names, limit=limit, today=today)
    events = list_impressions(answer, names=names, surfaces=surfaces, version_id=version_id)
    feedback.events_buffer(retailer_id=retailer.pk, events=events)
    if client is None:
        return body
    if generation is None:
        # A document cached before generations were kept: it gets one now, unless a write got there first.
        documents.generation_record(
            version_id=version_id, retailer_id=retailer.pk, document=document, replace=False
        )
    # Filed under the generation of the document it was made from: if that document has been replaced
    # meanwhile, the answer sits under a generation nobody asks for and leaves with the hash.
    stored = feedback.events_encoded(retailer_id=retailer.pk, events=events).encode() + b"\n" + body
    try:
        pipeline = client.pipeline(transaction=False)
        pipeline.hset(answers_key, f"{documents.generation_of(document)}|{field}", stored)
        pipeline.expire(answers_key, ANSWERS_SECONDS, nx=True)
        pipeline.execute()
    except (redis.RedisError, OSError) as error:
        feedback.buffer_failed(error)
    return body
