"""CPU time of putting a cached recommendation document into words (documents.document_lists); prints a table.

Run from the project root: `python bench/document_render.py [--reads 200]`. No database or Redis: the read
path renders an in-memory document of three lists, each item with the reasons a hybrid row typically stores
(repeat, bought with, popular; a due item has one), for the API's default `limit` (20) and its maximum (50).
"""

import argparse
import os
import sys
import timeit
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartbasket.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-long-enough-for-hmac-sha256")

import django

django.setup()

from recommendations import documents  # noqa: E402
from recommendations.serializers import DEFAULT_LIMIT, DOCUMENT_LIMIT  # noqa: E402

PRODUCT = {
    "id": 1,
    "sku": "85123A",
    "name": "White hanging heart T-light holder",
    "description": "",
    "vendor": {"id": 3, "name": "Hearth & Home"},
    "category": {"id": 5, "name": "Candles"},
    "unit_price": "2.55",
    "pack_size": 6,
    "is_active": True,
}
CARD_REASONS = [
    {
        "kind": "repeat",
        "weight": 0.55,
        "facts": {"times_ordered": 9, "orders_total": 14, "last_ordered": "2026-11-07"},
    },
    {
        "kind": "bought_with",
        "weight": 0.3,
        "facts": {"anchor": 2, "together": 212, "anchor_orders": 1340, "lift": 3.1},
    },
    {"kind": "popular", "weight": 0.15, "facts": {"retailers": 7, "window_days": 30, "scope": "all"}},
]
DUE_REASONS = [{"kind": "due", "weight": 1.0, "facts": {"cadence_days": 14.0, "last_ordered": "2026-11-07"}}]


def _document() -> dict:
    card = {
        "rank": 1,
        "product": PRODUCT,
        "score": 0.8,
        documents.REASONS_FIELD: CARD_REASONS,
        "is_new_arrival": False,
    }
    due = card | {
        documents.REASONS_FIELD: DUE_REASONS,
        "expected_date": "2026-11-21",
        "cadence_days": 14.0,
        "last_ordered": "2026-11-07",
        "confidence": 0.7,
        "suggested_quantity": 6,
    }
    lists = {
        "for_you": [card] * DOCUMENT_LIMIT,
        "due": [due] * DOCUMENT_LIMIT,
        "new_for_you": [card] * DOCUMENT_LIMIT,
    }
    return lists | {documents.NAMES_FIELD: {"2": "Red hanging heart T-light holder"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reads", type=int, default=200)
    reads = parser.parse_args().reads
    document, names, today = _document(), ("for_you", "due", "new_for_you"), date(2026, 12, 3)
    print("| limit | items rendered | ms per read |")
    print("|---|---|---|")
    for limit in (DEFAULT_LIMIT, DOCUMENT_LIMIT):
        seconds = timeit.timeit(
            lambda limit=limit: documents.document_lists(document, names=names, limit=limit, today=today),
            number=reads,
        )
        print(f"| {limit} | {len(names) * limit} | {seconds / reads * 1000:.2f} |")


if __name__ == "__main__":
    main()
