from io import StringIO

import pytest
import redis
from django.core.management import CommandError, call_command

from conftest import WORKER_REDIS_DB
from recommendations.models import TaskOutbox, TrainingRun

pytestmark = pytest.mark.django_db


# Committed for real: the command reports what happened to the publish that follows the commit.
@pytest.mark.django_db(transaction=True)
def test_retrain_queues_a_run_when_a_broker_is_configured(settings, celery_broker) -> None:
    settings.REDIS_URL = f"redis://127.0.0.1:6379/{WORKER_REDIS_DB}"
    celery_broker(settings.REDIS_URL)
    out = StringIO()

    call_command("retrain", "--hybrid-params", '{"params": {"neural": {"epochs": 1}}}', stdout=out)

    run = TrainingRun.objects.get()
    assert run.trigger == TrainingRun.Trigger.COMMAND
    assert run.parameters == {"hybrid": {"params": {"neural": {"epochs": 1}}}}
    assert f"Queued training run #{run.pk}" in out.getvalue()
    redis.Redis.from_url(settings.REDIS_URL).flushdb()


# Committed for real: the command reports what happened to the publish that follows the commit.
@pytest.mark.django_db(transaction=True)
def test_retrain_says_when_redis_does_not_answer_and_keeps_the_run_pending(settings, celery_broker) -> None:
    # Nothing listens on the discard port: the publish is refused at once, as with a stopped Redis.
    settings.REDIS_URL = "redis://127.0.0.1:9/0"
    celery_broker(settings.REDIS_URL)
    out = StringIO()

    call_command("retrain", stdout=out)

    run = TrainingRun.objects.get()
    assert run.status == TrainingRun.Status.PENDING
    assert f"Training run #{run.pk} is recorded but Redis did not answer" in out.getvalue()
    assert TaskOutbox.objects.get(celery_task_id=run.celery_task_id).delivered_at is None


def test_retrain_in_process_reports_a_clear_error_when_there_is_nothing_to_learn() -> None:
    with pytest.raises(CommandError, match="no placed orders"):
        call_command("retrain", "--in-process", stdout=StringIO())

    assert TrainingRun.objects.get().status == TrainingRun.Status.FAILED


def test_retrain_rejects_parameters_that_are_not_a_json_object() -> None:
    with pytest.raises(CommandError, match="JSON"):
        call_command("retrain", "--hybrid-params", "[1, 2]")

    assert not TrainingRun.objects.exists()
