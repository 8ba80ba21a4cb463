"""scripts/production.sh: refuses to start without its variables; starts gunicorn, a worker and one beat that
answer /health/; a second beat on the same database stands by; SIGTERM stops every process it started."""

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from django.conf import settings
from django.db import connection

from conftest import free_port
from recommendations.tests.factories import ModelVersionFactory

SCRIPT = str(Path(settings.BASE_DIR) / "scripts" / "production.sh")
START_SECONDS = 60
STOP_SECONDS = 45


def _wait_for(condition: Callable[[], object], *, timeout: float, message: Callable[[], str]) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.5)
    pytest.fail(f"{message()}")


def _session_processes(session_id: int) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        try:
            if os.getsid(process.pid) == session_id:
                found.append(process)
        except (ProcessLookupError, PermissionError):
            continue
    return found


def _is_beat(process: psutil.Process) -> bool:
    command = process.info["cmdline"] or []
    return "celery" in " ".join(command) and "beat" in command and "smartbasket.beat" not in command


def test_production_start_refuses_without_its_variables(tmp_path) -> None:
    result = subprocess.run(
        ["bash", SCRIPT],
        env={"PATH": os.environ["PATH"], "SMARTBASKET_ENV_FILE": str(tmp_path / "missing.env")},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert "Missing required environment variable(s): DATABASE_URL, REDIS_URL, SECRET_KEY." in result.stderr


def test_production_start_refuses_debug(tmp_path) -> None:
    result = subprocess.run(
        ["bash", SCRIPT], env={"PATH": os.environ["PATH"], "DEBUG": "true"}, capture_output=True, text=True
    )

    assert result.returncode == 1
    assert "runs with DEBUG off" in result.stderr


@pytest.fixture
def production_env(transactional_db, tmp_path: Path) -> dict[str, str]:
    db = connection.settings_dict
    # The Redis database of this run's test workers (conftest.py): nothing else queues tasks there.
    worker_db = os.environ.get("SMARTBASKET_WORKER_REDIS_DB", "13")
    redis_url = (settings.REDIS_URL or "redis://127.0.0.1:6379/0").rsplit("/", 1)[0] + f"/{worker_db}"
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/"
        f"{db['NAME']}",
        "REDIS_URL": redis_url,
        "SECRET_KEY": "test-only-secret-key-long-enough-for-hmac-sha256",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SMARTBASKET_ENV_FILE": os.devnull,
        "SMARTBASKET_STATIC_ROOT": str(tmp_path / "static"),
        "SMARTBASKET_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
        "GUNICORN_BIND": f"127.0.0.1:{free_port()}",
        "WEB_CONCURRENCY": "2",
        "CELERY_WORKER_CONCURRENCY": "1",
    }


@pytest.fixture
def production(production_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[subprocess.Popen, Path]]:
    log_path = tmp_path / "production.log"
    with open(log_path, "wb") as log:
        # A session of its own, so every process it starts can be found (and, at worst, killed) afterwards.
        process = subprocess.Popen(
            ["bash", SCRIPT], env=production_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    yield process, log_path
    for leftover in _session_processes(process.pid):
        leftover.kill()


def _health(bind: str) -> tuple[int, dict[str, str]] | None:
    host, port = bind.split(":")
    try:
        client = http.client.HTTPConnection(host, int(port), timeout=5)
        client.request("GET", "/health/?format=json", headers={"Host": "127.0.0.1"})
        response = client.getresponse()
        return response.status, json.loads(response.read())
    except (OSError, ValueError):
        return None


@pytest.mark.slow
@pytest.mark.worker
def test_production_start_serves_health_runs_one_beat_and_stops_everything(production, production_env):
    ModelVersionFactory()
    process, log_path = production

    def log() -> str:
        return log_path.read_text(errors="replace")

    def healthy() -> tuple[int, dict[str, str]] | None:
        assert process.poll() is None, f"production.sh exited early:\n{log()}"
        answer = _health(production_env["GUNICORN_BIND"])
        return answer if answer and answer[0] == 200 else None

    _, report = _wait_for(healthy, timeout=START_SECONDS, message=lambda: f"not healthy:\n{log()}")
    assert len(report) == 6 and all(value.startswith("OK") for value in report.values()), report
    assert "static files copied" in log()
    beats = _wait_for(
        lambda: [p for p in _session_processes(process.pid) if _is_beat(p)],
        timeout=30,
        message=lambda: f"no celery beat started:\n{log()}",
    )
    assert len(beats) == 1

    # A second start on the same database: its beat stands by instead of starting.
    second_log = log_path.with_name("second-beat.log")
    with open(second_log, "wb") as output:
        second = subprocess.Popen(
            [sys.executable, "-m", "smartbasket.beat", "--loglevel", "INFO"],
            env=production_env,
            cwd=settings.BASE_DIR,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        said = _wait_for(
            lambda: "smartbasket.beat" in (text := second_log.read_text()) and "lock" in text and text,
            timeout=30,
            message=lambda: f"the second beat said nothing:\n{second_log.read_text()}",
        )
        assert "Another celery beat holds the lock on this database: standing by" in said
        assert "Holding the beat lock" not in said
        time.sleep(1)
        assert [p for p in _session_processes(second.pid) if _is_beat(p)] == []
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    assert second.returncode == 0

    started = _session_processes(process.pid)
    assert len(started) >= 6  # the script, gunicorn and its workers, the worker and its pool, beat's holder
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=STOP_SECONDS)
    _wait_for(
        lambda: not _session_processes(process.pid),
        timeout=10,
        message=lambda: f"still running: {[p.info['cmdline'] for p in _session_processes(process.pid)]}",
    )
    assert process.returncode == 0
    assert "production.sh: stopped" in log()
