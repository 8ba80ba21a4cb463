"""The `.env` file: read by the entry points (manage.py, wsgi.py, the celery command), never by settings.py.

Settings only ever read `os.environ`. The entry points fill in what the environment does not already set from
`SMARTBASKET_ENV_FILE` (default `.env` in the project root), so a README command works in a fresh shell after
`make demo` wrote that file, while a variable set in the environment (the test script's, an operator's) always
wins. pytest imports the settings directly and therefore never sees a developer's `.env`.

`python -m smartbasket.require_env NAME ...` exits non-zero naming every variable that neither the environment
nor the file sets (scripts/production.sh runs it before starting anything).
"""

import os
import shlex
import sys
from pathlib import Path

from dotenv import dotenv_values

BASE_DIR = Path(__file__).resolve().parent.parent
ENV_FILE_VARIABLE = "SMARTBASKET_ENV_FILE"


def env_file_path() -> Path:
    return Path(os.environ.get(ENV_FILE_VARIABLE) or BASE_DIR / ".env")


def _file_values() -> dict[str, str]:
    """The env file's non-empty values: an empty `NAME=` (as in .env.example) means "the default"."""
    path = env_file_path()
    values = dotenv_values(path) if path.is_file() else {}
    return {name: value for name, value in values.items() if value}


def load_env_file() -> None:
    """Set the variables of the env file that the environment does not set already; a missing file is fine."""
    for name, value in _file_values().items():
        os.environ.setdefault(name, value)


def is_celery_command() -> bool:
    """The process is `celery ...` or `python -m celery ...` (not pytest or Django importing the package)."""
    program = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path()
    return program.name == "celery" or (program.name == "__main__.py" and program.parent.name == "celery")


def missing_variables(names: list[str]) -> list[str]:
    """Names that are empty or unset both in the environment and in the env file."""
    from_file = _file_values()
    return [name for name in names if not (os.environ.get(name) or from_file.get(name))]


def shell_exports() -> str:
    """`export NAME=value` lines (for bash `eval`) of what the env file sets and the environment does not."""
    return "".join(
        f"export {name}={shlex.quote(value)}\n"
        for name, value in _file_values().items()
        if name not in os.environ and name.isidentifier()
    )
