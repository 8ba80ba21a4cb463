"""Beat sends the weekly "due for reorder" digest on Monday mornings (accounts.tasks.send_reorder_digests)."""

from django.db import migrations

WEEKLY_REORDER_DIGEST = "Weekly due-for-reorder digest e-mail"


def create_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    # After the nightly retrain (02:00) has published fresh reorder predictions, before shops open.
    monday_morning, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour="7", day_of_week="1", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.get_or_create(
        name=WEEKLY_REORDER_DIGEST,
        defaults={"task": "accounts.tasks.send_reorder_digests", "crontab": monday_morning},
    )


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=WEEKLY_REORDER_DIGEST).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_emaildelivery"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
