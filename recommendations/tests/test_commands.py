from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from recommendations.models import TrainingRun

pytestmark = pytest.mark.django_db


def test_retrain_queues_a_run_when_a_broker_is_configured(settings) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    out = StringIO()

    call_command("retrain", "--hybrid-params", '{"params": {"neural": {"epochs": 1}}}', stdout=out)

    run = TrainingRun.objects.get()
    assert run.trigger == TrainingRun.Trigger.COMMAND
    assert run.parameters == {"hybrid": {"params": {"neural": {"epochs": 1}}}}
    assert f"Queued training run #{run.pk}" in out.getvalue()


def test_retrain_in_process_reports_a_clear_error_when_there_is_nothing_to_learn() -> None:
    with pytest.raises(CommandError, match="no placed orders"):
        call_command("retrain", "--in-process", stdout=StringIO())

    assert TrainingRun.objects.get().status == TrainingRun.Status.FAILED


def test_retrain_rejects_parameters_that_are_not_a_json_object() -> None:
    with pytest.raises(CommandError, match="JSON"):
        call_command("retrain", "--hybrid-params", "[1, 2]")

    assert not TrainingRun.objects.exists()
