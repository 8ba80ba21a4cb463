"""Beat writes the events and predictions the API buffered in Redis every 10 seconds."""

from django.db import migrations

FEEDBACK_FLUSH = "Flush buffered feedback events and predictions"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_ten_seconds, _ = IntervalSchedule.objects.get_or_create(every=10, period="seconds")
    PeriodicTask.objects.get_or_create(
        name=FEEDBACK_FLUSH,
        defaults={
            "task": "recommendations.tasks.flush_feedback",
            "interval": every_ten_seconds,
            "queue": "recommendations",
            # A run not started within its own period is superseded by the next one.
            "expire_seconds": 10,
        },
    )


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=FEEDBACK_FLUSH).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("recommendations", "0005_documents_predictions"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
