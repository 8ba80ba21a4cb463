"""Sentences are made when they are read: the rows keep their reasons' dates and counts, not a sentence or a
"days since" frozen at training time."""

from django.db import migrations


def forget_documents(apps, schema_editor) -> None:
    # Documents are derived data: the old ones hold sentences, not the reasons the reads now render; each is
    # rebuilt from the rows on its first read.
    apps.get_model("recommendations", "RecommendationDocument").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("recommendations", "0008_recommendation_probability"),
    ]

    operations = [
        migrations.RunPython(forget_documents, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name="recommendation",
            name="explanation",
        ),
        migrations.RemoveField(
            model_name="reorderprediction",
            name="days_since_last",
        ),
        migrations.RemoveField(
            model_name="reorderprediction",
            name="explanation",
        ),
    ]
