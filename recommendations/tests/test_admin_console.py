"""The staff console: metrics as a table beside the champion, human durations, a run's live progress, and
"Retrain now" that never trains inside the request."""

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from conftest import subprocess_database_url
from recommendations import reporting, training_runs
from recommendations.models import ModelVersion, TaskOutbox, TrainingRun
from recommendations.tests.factories import ModelVersionFactory
from recommendations.tests.test_csp_browser import COLLECT_VIOLATIONS
from recommendations.tests.world import build_world
from smartbasket.celery import app

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client: Client) -> Client:
    client.force_login(UserFactory(staff_member=True))
    return client


def _versions_with_a_champion() -> tuple[ModelVersion, ModelVersion]:
    champion = ModelVersionFactory(metrics={"hybrid": {"ndcg@10": 0.40123, "recall@10": 0.3}})
    challenger = ModelVersionFactory(
        status=ModelVersion.Status.CANDIDATE,
        metrics={
            "hybrid": {"ndcg@10": 0.432198765, "recall@10": 0.25, "hit@10": 0.7},
            "popularity": {"ndcg@10": 0.2104, "recall@10": 0.11},
            "blend": {"weights": {"popularity": 0.25, "repeat": 0.75}, "validation": {}},
            "comparison": {
                "champion": champion.pk,
                "metric": "ndcg@10",
                "champion_score": 0.41,
                "challenger_score": 0.432199,
                "basis": "12 held-out baskets placed after the champion's data cutoff",
            },
        },
        parameters={"completion": {"weights": {"association": 1.0, "popularity": 0.1}, "top_orders": 900}},
        trained_on={"retailers": 200, "orders": 4100},
        training_seconds=329.180659,
        precompute_seconds=5.4,
    )
    return champion, challenger


# --- Metrics and durations.


def test_a_versions_page_shows_its_metrics_as_a_table_with_the_champion_beside_it(staff: Client) -> None:
    champion, challenger = _versions_with_a_champion()

    url = reverse("admin:recommendations_modelversion_change", args=[challenger.pk])
    body = staff.get(url).content.decode()

    assert '<th scope="row">hybrid</th><td class="metric">0.432</td>' in body
    assert '<th scope="row">popularity</th><td class="metric">0.210</td>' in body
    assert f'<th scope="row">v{champion.pk} hybrid (champion)</th><td class="metric">0.401</td>' in body
    assert f"0.432 for this version against 0.410 for v{champion.pk}" in body
    assert "Blend weights: repeat 0.750, popularity 0.250." in body
    assert "Basket completion weights: association 1.000, popularity 0.100." in body
    assert "4,100 orders, 200 retailers" in body
    # No raw JSON blob and no 9-digit floats.
    assert "0.432198765" not in body and '"ndcg@10"' not in body


def test_the_version_list_names_each_versions_champion_and_human_durations(staff: Client) -> None:
    champion, _ = _versions_with_a_champion()

    body = staff.get(reverse("admin:recommendations_modelversion_changelist")).content.decode()

    champion_url = reverse("admin:recommendations_modelversion_change", args=[champion.pk])
    assert f'<a href="{champion_url}">v{champion.pk}</a>' in body
    assert "5 min 29 s" in body and "5.4 s" in body
    assert "329.18" not in body


def test_training_run_pages_show_human_durations(staff: Client) -> None:
    run = TrainingRun.objects.create(status=TrainingRun.Status.SUCCEEDED, duration=329.180659)

    listing = staff.get(reverse("admin:recommendations_trainingrun_changelist")).content.decode()
    page = staff.get(reverse("admin:recommendations_trainingrun_change", args=[run.pk])).content.decode()

    assert "5 min 29 s" in listing and "5 min 29 s" in page
    assert "329.18" not in listing and "329.18" not in page


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (0.42, "0.4 s"), (9.96, "10.0 s"), (59.6, "1 min 0 s"), (329.180659, "5 min 29 s"),
     (3725, "1 h 2 min 5 s"), (7200, "2 h 0 min 0 s")],
)  # fmt: skip
def test_durations_read_in_hours_minutes_and_seconds(seconds: float | None, text: str) -> None:
    assert reporting.human_duration(seconds) == text


def test_the_metrics_table_keeps_three_decimals_and_leaves_out_what_is_not_a_model() -> None:
    metrics = {"hybrid": {"ndcg@10": 0.12345, "recall@10": 0.5}, "repeat": {"ndcg@10": 0.1}}
    metrics["comparison"] = {"champion": 3}

    table = reporting.metrics_table(metrics, columns=("ndcg@10", "recall@10"))

    assert table.rows == [("hybrid", ["0.123", "0.500"]), ("repeat", ["0.100", "-"])]
    assert table.text().splitlines()[0].split() == ["model", "ndcg@10", "recall@10"]


# --- Live progress.


def _progress(staff: Client, run: TrainingRun) -> str:
    url = reverse("admin:recommendations_trainingrun_progress", args=[run.pk])
    response = staff.get(url, headers={"HX-Request": "true"})
    assert response.status_code == 200
    return response.content.decode()


def test_the_progress_panel_shows_the_stage_and_polls_every_2_s_while_the_run_works(staff: Client) -> None:
    run = TrainingRun.objects.create(status=TrainingRun.Status.RUNNING, started_at=timezone.now())
    training_runs.training_run_progress_record(run_id=run.pk, stage="precompute", step=2, steps=3)

    panel = _progress(staff, run)
    page = staff.get(reverse("admin:recommendations_trainingrun_change", args=[run.pk])).content.decode()

    assert "<html" not in panel and 'id="training-progress"' in panel
    assert '<strong class="training-stage">precompute</strong>, step 2 of 3 (67%)' in panel
    assert '<progress class="training-bar" value="2" max="3">' in panel
    assert 'hx-trigger="every 2s"' in panel and "Updated " in panel
    # The change page carries the same panel and loads htmx from our static files.
    assert 'hx-trigger="every 2s"' in page and "/static/vendor/htmx.min.js" in page


def test_the_progress_panel_stops_polling_once_the_run_has_ended(staff: Client) -> None:
    run = TrainingRun.objects.create(status=TrainingRun.Status.RUNNING, started_at=timezone.now())
    training_runs.training_run_progress_record(run_id=run.pk, stage="publish", step=1, steps=1)
    TrainingRun.objects.filter(pk=run.pk).update(
        status=TrainingRun.Status.SUCCEEDED, duration=82.3, log="[ 82.3s] v3 is now active\n"
    )

    panel = _progress(staff, run)

    assert "hx-trigger" not in panel and "hx-get" not in panel
    assert "Succeeded" in panel and "Took 1 min 22 s." in panel and "v3 is now active" in panel


def test_progress_outside_its_steps_is_refused() -> None:
    run = TrainingRun.objects.create()

    for step, steps in [(4, 3), (-1, 3), (0, 0)]:
        with pytest.raises(ValueError, match="is not a progress"):
            training_runs.training_run_progress_record(run_id=run.pk, stage="fit", step=step, steps=steps)


def test_only_staff_see_a_runs_progress(client: Client) -> None:
    run = TrainingRun.objects.create()
    client.force_login(UserFactory())

    response = client.get(reverse("admin:recommendations_trainingrun_progress", args=[run.pk]))

    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


# --- "Retrain now" never trains in the request.


def test_with_a_broker_retrain_now_queues_the_run_through_the_outbox(staff: Client) -> None:
    response = staff.post(reverse("admin:recommendations_retrain"), follow=True)

    run = TrainingRun.objects.get()
    assert run.status == TrainingRun.Status.PENDING
    entry = TaskOutbox.objects.get(celery_task_id=run.celery_task_id)
    assert entry.task_name == "recommendations.tasks.retrain"
    assert f"#{run.pk}</a> queued for a worker" in response.content.decode()


@pytest.fixture
def embedded_default(monkeypatch, settings, tmp_path: Path) -> Iterator[Path]:
    """No broker: tasks run in-process, as in the embedded demo. The training process this starts inherits
    the environment, so it is pointed at the test database and at artifacts of the test's own."""
    monkeypatch.setenv("DATABASE_URL", subprocess_database_url())
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("SMARTBASKET_ENV_FILE", os.devnull)
    monkeypatch.setenv("SMARTBASKET_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"
    app.conf.task_always_eager = True
    try:
        yield tmp_path
    finally:
        app.conf.task_always_eager = False


@pytest.mark.django_db(transaction=True)
def test_without_a_broker_retrain_now_answers_at_once_and_the_run_trains_in_another_process(
    embedded_default: Path,
) -> None:
    build_world(retailers=12, products=18, orders_each=6)
    client = Client()
    client.force_login(UserFactory(staff_member=True))

    started = time.monotonic()
    response = client.post(reverse("admin:recommendations_retrain"), follow=True)
    answered = time.monotonic() - started

    run = TrainingRun.objects.get()
    # Generous bound for a loaded 2-core machine; training takes far longer (TensorFlow's import alone).
    assert answered < 10, answered
    assert run.status in (TrainingRun.Status.PENDING, TrainingRun.Status.RUNNING)
    assert f"#{run.pk}</a> started in a separate process" in response.content.decode()
    assert not TaskOutbox.objects.exists()

    # Read from this connection while the other process works: its progress commits as it goes.
    seen: set[tuple[str, str]] = set()
    deadline = time.monotonic() + 300
    while run.in_progress and time.monotonic() < deadline:
        time.sleep(0.5)
        run.refresh_from_db()
        seen.add((run.status, run.stage))
    log = (embedded_default / "artifacts" / "runs" / f"{run.pk}.log").read_text(errors="replace")
    assert run.status == TrainingRun.Status.SUCCEEDED, (run.error, log[-3000:])
    # Stages seen live, not only the last one (short stages may fall between two reads).
    assert len({stage for status, stage in seen if status == "running" and stage}) >= 2, seen
    assert (run.stage, run.stage_step, run.stage_steps) == ("publish", 1, 1)
    assert run.model_version.status == ModelVersion.Status.ACTIVE
    assert "finished in" in log


# --- The live panel in a real browser, under the real Content-Security-Policy.


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_run_page_follows_the_run_live_and_stops_polling_when_it_ends(chromium, live_server) -> None:
    staff_user = UserFactory(staff_member=True)
    run = TrainingRun.objects.create(status=TrainingRun.Status.RUNNING, started_at=timezone.now())
    training_runs.training_run_progress_record(run_id=run.pk, stage="fit for evaluation", step=1, steps=13)
    progress_url = reverse("admin:recommendations_trainingrun_progress", args=[run.pk])
    context = chromium.new_context()
    context.set_default_timeout(15_000)
    context.add_init_script(COLLECT_VIOLATIONS)
    page = context.new_page()
    polls: list[str] = []
    page.on("request", lambda request: polls.append(request.url) if progress_url in request.url else None)
    page.goto(live_server.url + reverse("accounts:login"))
    page.fill("input[name=username]", staff_user.username)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/")

    page.goto(live_server.url + reverse("admin:recommendations_trainingrun_change", args=[run.pk]))
    assert "step 1 of 13" in page.inner_text("#training-progress")
    # Another connection (this test) records progress; the open page shows it within a poll or two.
    training_runs.training_run_progress_record(run_id=run.pk, stage="precompute", step=2, steps=3)
    page.wait_for_function(
        "() => document.querySelector('#training-progress').innerText.includes('precompute, step 2 of 3')"
    )
    TrainingRun.objects.filter(pk=run.pk).update(status=TrainingRun.Status.SUCCEEDED, duration=82.3)
    page.wait_for_function("() => document.querySelector('#training-progress').innerText.includes('Took')")
    polled = len(polls)
    page.wait_for_timeout(5_000)

    assert polled >= 2 and len(polls) == polled, polls
    assert page.get_attribute("#training-progress", "hx-trigger") is None
    assert page.evaluate("window.__cspViolations") == []
    context.close()
