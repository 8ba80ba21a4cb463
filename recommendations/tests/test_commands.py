import json
import os
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
import redis
from django.core.management import CommandError, call_command

from conftest import WORKER_REDIS_DB, subprocess_database_url
from recommendations.models import TaskOutbox, TrainingRun
from recommendations.tests.test_services import FAST
from recommendations.tests.world import build_world

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


def test_retrain_run_names_a_missing_run_clearly() -> None:
    with pytest.raises(CommandError, match="no training run #999"):
        call_command("retrain", "--run", "999", stdout=StringIO())


def test_retrain_run_refuses_a_run_that_is_not_pending() -> None:
    run = TrainingRun.objects.create(status=TrainingRun.Status.SUCCEEDED)

    with pytest.raises(CommandError, match="not pending"):
        call_command("retrain", "--run", str(run.pk), stdout=StringIO())

    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED


# The command as a person runs it: its own process (TensorFlow imported fresh, its stderr captured at the file
# descriptor), the test database committed for it to read.
@pytest.mark.django_db(transaction=True)
def test_retrain_prints_a_bar_per_stage_and_a_metrics_table_without_tensorflow_noise_or_raw_dicts(
    settings, tmp_path: Path
) -> None:
    build_world(retailers=12, products=18, orders_each=6)
    env = {key: value for key, value in os.environ.items() if key != "REDIS_URL"} | {
        "DATABASE_URL": subprocess_database_url(),
        "SMARTBASKET_ENV_FILE": os.devnull,
        "SMARTBASKET_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
    }
    command = [sys.executable, "manage.py", "retrain", "--hybrid-params", json.dumps(FAST)]

    done = subprocess.run(
        command, env=env, cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=600
    )

    out, err = done.stdout, done.stderr
    assert done.returncode == 0, out[-3000:] + err[-3000:]
    stages = ["extract orders", "fit for evaluation", "evaluate", "compare with the active version"]
    for stage in [*stages, "fit on all data", "precompute", "publish"]:
        assert re.search(rf"{stage}: 100%\|#+\| (\d+)/\1 ", out), (stage, out)
    table = out[out.index("Held-out metrics") :].splitlines()
    assert table[1].split()[:3] == ["model", "ndcg@10", "recall@10"]
    assert table[3].split()[0] == "hybrid" and re.fullmatch(r"\d\.\d{3}", table[3].split()[1])
    assert "{" not in out and not re.search(r"\d\.\d{5,}", out)
    assert re.search(r"Training run #\d+ finished in (\d+ min )?\d+(\.\d)? s: v\d+ active", out)
    assert "oneDNN" not in err and "absl::InitializeLog" not in err and "tensorflow" not in err.lower()
    # The tasks a retrain queues in-process (the vendors' forecasts) are found outside a worker too.
    assert "NotRegistered" not in err and "failed in-process" not in err
