"""The transactional task outbox and the periodic task that delivers it: publishes what a request could not,
and publishes again what no worker completed (a broker restarted empty, a worker killed holding it)."""

from django.db import migrations, models

DELIVER_OUTBOX = "Deliver queued tasks that could not be published (task outbox)"
DELIVER_EVERY_SECONDS = 30


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=DELIVER_EVERY_SECONDS, period="seconds")
    PeriodicTask.objects.get_or_create(
        name=DELIVER_OUTBOX,
        defaults={
            "task": "recommendations.tasks.deliver_outbox",
            "interval": every,
            "queue": "recommendations",
            # A delivery that did not start within a period is superseded by the next one.
            "expire_seconds": DELIVER_EVERY_SECONDS,
        },
    )


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=DELIVER_OUTBOX).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("recommendations", "0002_beat_schedule"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.CreateModel(
            name="TaskOutbox",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("task_name", models.CharField(max_length=200)),
                ("args", models.JSONField(blank=True, default=list)),
                ("kwargs", models.JSONField(blank=True, default=dict)),
                ("request_id", models.CharField(blank=True, max_length=64)),
                ("celery_task_id", models.CharField(max_length=255, unique=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("claimed_until", models.DateTimeField(blank=True, null=True)),
                ("attempts", models.PositiveIntegerField(default=0)),
                ("last_attempt_at", models.DateTimeField(blank=True, null=True)),
                ("last_error", models.TextField(blank=True)),
                ("delivered_at", models.DateTimeField(blank=True, null=True)),
                ("publishes", models.PositiveIntegerField(default=0)),
                ("redeliver_at", models.DateTimeField(blank=True, null=True)),
                ("completed_at", models.DateTimeField(blank=True, null=True)),
                ("task_error", models.TextField(blank=True)),
                ("gave_up_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={
                "verbose_name": "task outbox entry",
                "verbose_name_plural": "task outbox",
                "ordering": ["-created_at", "-id"],
                "indexes": [
                    models.Index(
                        condition=models.Q(("completed_at__isnull", True), ("gave_up_at__isnull", True)),
                        fields=["created_at"],
                        name="taskoutbox_open",
                    ),
                    models.Index(fields=["completed_at"], name="taskoutbox_completed_at"),
                ],
            },
        ),
        migrations.RunPython(create_schedule, remove_schedule),
    ]
