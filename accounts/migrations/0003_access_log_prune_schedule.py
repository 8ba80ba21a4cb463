"""A nightly beat entry that prunes django-axes' sign-in log (accounts.tasks.access_logs_prune)."""

from django.db import migrations

NIGHTLY_ACCESS_LOG_PRUNE = "Nightly prune of the sign-in access log"


def create_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    nightly, _ = CrontabSchedule.objects.get_or_create(
        minute="30", hour="3", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.get_or_create(
        name=NIGHTLY_ACCESS_LOG_PRUNE, defaults={"task": "accounts.tasks.access_logs_prune", "crontab": nightly}
    )


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=NIGHTLY_ACCESS_LOG_PRUNE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_user_preferences"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
