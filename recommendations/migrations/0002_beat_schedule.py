"""The pipeline's periodic tasks, kept in the database (django-celery-beat) so staff can edit them in the admin."""

from django.db import migrations

NIGHTLY_RETRAIN = "Nightly full retrain"
HOURLY_REFRESH = "Hourly refresh of retailers who ordered recently"


def create_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    nightly, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour="2", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    hourly, _ = CrontabSchedule.objects.get_or_create(
        minute="15", hour="*", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.get_or_create(
        name=NIGHTLY_RETRAIN,
        defaults={"task": "recommendations.tasks.retrain_scheduled", "crontab": nightly, "queue": "recommendations"},
    )
    PeriodicTask.objects.get_or_create(
        name=HOURLY_REFRESH,
        defaults={
            "task": "recommendations.tasks.refresh_recent_retailers",
            "crontab": hourly,
            "queue": "recommendations",
            "kwargs": '{"hours": 2}',
        },
    )


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[NIGHTLY_RETRAIN, HOURLY_REFRESH]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("recommendations", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
