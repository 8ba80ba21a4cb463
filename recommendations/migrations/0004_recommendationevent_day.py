"""Feedback integrity: a `day` on every recommendation event, and one click and one add per retailer, product,
surface, version and day, enforced by a partial unique index.

Existing events get their day from `created_at` (in TIME_ZONE, as the suggestion history groups them), and
duplicate clicks and adds of one day are reduced to the first before the index is created.
"""

import django.utils.timezone
from django.db import migrations, models
from django.db.models import Min
from django.db.models.functions import TruncDate

FEEDBACK_KINDS = ["click", "add"]
ONCE_A_DAY = ["retailer", "product", "surface", "model_version", "kind", "day"]


def fill_day_and_drop_duplicates(apps, schema_editor):
    RecommendationEvent = apps.get_model("recommendations", "RecommendationEvent")
    RecommendationEvent.objects.update(day=TruncDate("created_at"))
    feedback = RecommendationEvent.objects.filter(kind__in=FEEDBACK_KINDS, model_version__isnull=False)
    first_of_each_day = feedback.values(*ONCE_A_DAY).annotate(first=Min("id")).values("first")
    feedback.exclude(pk__in=first_of_each_day).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("recommendations", "0003_task_outbox"),
    ]

    operations = [
        migrations.AddField(
            model_name="recommendationevent",
            name="day",
            field=models.DateField(null=True),
        ),
        migrations.RunPython(fill_day_and_drop_duplicates, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="recommendationevent",
            name="day",
            field=models.DateField(default=django.utils.timezone.localdate),
        ),
        migrations.AddIndex(
            model_name="recommendationevent",
            index=models.Index(fields=["retailer", "product", "-created_at"], name="recevent_shown_lookup"),
        ),
        migrations.AddConstraint(
            model_name="recommendationevent",
            constraint=models.UniqueConstraint(
                condition=models.Q(("kind__in", ["click", "add"]), ("model_version__isnull", False)),
                fields=("retailer", "product", "surface", "model_version", "kind", "day"),
                name="recevent_one_feedback_a_day",
            ),
        ),
    ]
