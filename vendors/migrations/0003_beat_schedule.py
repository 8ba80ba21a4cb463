"""The vendor analytics' periodic tasks, kept in the database (django-celery-beat) so staff can edit them."""

from django.db import migrations

HOURLY_ROLLUPS = "Hourly refresh of the vendor sales rollups"
NIGHTLY_FORECASTS = "Nightly vendor forecasts"


def create_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    # Minute 40: away from the recommendations' hourly refresh (minute 15) and the 02:00 retrain.
    hourly, _ = CrontabSchedule.objects.get_or_create(
        minute="40", hour="*", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    nightly, _ = CrontabSchedule.objects.get_or_create(
        minute="30", hour="3", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.get_or_create(
        name=HOURLY_ROLLUPS,
        defaults={"task": "vendors.tasks.refresh_all_vendors", "crontab": hourly, "queue": "celery"},
    )
    PeriodicTask.objects.get_or_create(
        name=NIGHTLY_FORECASTS,
        defaults={
            "task": "vendors.tasks.refresh_all_vendors",
            "crontab": nightly,
            "queue": "celery",
            "kwargs": '{"forecasts": true}',
        },
    )


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[HOURLY_ROLLUPS, NIGHTLY_FORECASTS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("vendors", "0002_analytics_rollups_forecasts"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
