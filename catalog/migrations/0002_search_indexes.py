"""Indexes for the catalogue search: `name ILIKE %term%` OR `UPPER(sku) = UPPER(term)` for each term.

A substring match cannot use a B-tree, so on PostgreSQL a trigram GIN index on UPPER(name) serves it (pg_trgm is a
trusted extension: the database owner may create it). It is created by SQL outside the model state because
SQLite, the embedded demo's database, has no GIN indexes; the demo's catalogue is small enough to scan.
"""

import django.db.models.functions.text
from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations, models

NAME_TRIGRAMS = "product_name_trgm"


def create_name_trigrams(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {NAME_TRIGRAMS} ON catalog_product USING gin (UPPER(name) gin_trgm_ops)"
        )


def drop_name_trigrams(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {NAME_TRIGRAMS}")


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0001_initial"),
        ("vendors", "0003_beat_schedule"),
    ]

    operations = [
        TrigramExtension(),
        migrations.AddIndex(
            model_name="product",
            index=models.Index(django.db.models.functions.text.Upper("sku"), name="product_sku_upper"),
        ),
        migrations.RunPython(create_name_trigrams, drop_name_trigrams),
    ]
