"""`.env` is read by manage.py (and gunicorn, celery), never over the environment, and never by the settings
that pytest imports."""

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

MANAGE = str(Path(settings.BASE_DIR) / "manage.py")


def run(args: list[str], *, env_file: Path, **env: str) -> subprocess.CompletedProcess:
    # A fresh shell: nothing of this test run's environment but PATH.
    clean = {"PATH": os.environ["PATH"], "SMARTBASKET_ENV_FILE": str(env_file), **env}
    return subprocess.run(
        [sys.executable, *args], env=clean, cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=120
    )


def write_env(tmp_path: Path, text: str) -> Path:
    env_file = tmp_path / ".env"
    env_file.write_text(text)
    return env_file


def test_manage_help_lists_the_project_commands_in_a_fresh_shell_with_an_env_file(tmp_path) -> None:
    env_file = write_env(tmp_path, "SECRET_KEY=from-the-env-file-long-enough-for-hmac-sha256\n")

    result = run([MANAGE, "--help"], env_file=env_file)

    assert result.returncode == 0, result.stderr
    for command in ("import_transactions", "retrain", "evaluate", "seed_demo"):
        assert command in result.stdout
    assert "settings are not properly configured" not in result.stdout + result.stderr


def test_manage_without_an_env_file_names_the_missing_secret_key(tmp_path) -> None:
    result = run([MANAGE, "--help"], env_file=tmp_path / "missing.env")

    assert "retrain" not in result.stdout
    assert "SECRET_KEY is required when DEBUG is off" in result.stdout + result.stderr


def test_a_variable_set_in_the_environment_wins_over_the_env_file(tmp_path) -> None:
    env_file = write_env(tmp_path, "DEBUG=true\nSECRET_KEY=from-the-env-file-long-enough-for-hmac-sha256\n")
    show_debug = [MANAGE, "shell", "-c", "from django.conf import settings; print('DEBUG', settings.DEBUG)"]

    assert "DEBUG True" in run(show_debug, env_file=env_file).stdout
    assert "DEBUG False" in run(show_debug, env_file=env_file, DEBUG="false").stdout


def test_the_settings_alone_never_read_the_env_file(tmp_path) -> None:
    # What pytest-django does: import the settings, not manage.py. The file's DEBUG=true must not apply.
    env_file = write_env(tmp_path, "DEBUG=true\nLOG_LEVEL=ERROR\n")
    probe = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'smartbasket.settings'; django.setup(); "
        "from django.conf import settings; print('DEBUG', settings.DEBUG)"
    )

    result = run(["-c", probe], env_file=env_file, SECRET_KEY="test-only-secret-key-long-enough-for-hmac")

    assert result.returncode == 0, result.stderr
    assert "DEBUG False" in result.stdout


def test_an_empty_value_in_the_env_file_leaves_the_default(tmp_path) -> None:
    # .env.example lists every variable with an empty value; copied as it is, it must change nothing.
    env_file = write_env(tmp_path, "SECRET_KEY=from-the-env-file-long-enough-for-hmac-sha256\nLOG_LEVEL=\n")
    show = [MANAGE, "shell", "-c", "import os; print('LOG_LEVEL' in os.environ)"]

    assert run(show, env_file=env_file).stdout.strip().endswith("False")
