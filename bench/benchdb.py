"""What the benchmarks share: a PostgreSQL database of their own, `manage.py` against it, a free port.

Imported by the scripts in this folder (run as `python bench/NAME.py`, so this folder is on `sys.path`).
"""

import socket
import subprocess
import sys
from pathlib import Path

import psycopg
from psycopg import sql

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def ensure_database(url: str, *, fresh: bool) -> None:
    """Create the benchmark's database if it is missing; `fresh` drops it first."""
    name = url.rsplit("/", 1)[1]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and fresh:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
            exists = None
        if not exists:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def manage(env: dict[str, str], *args: str) -> None:
    print(f"$ manage.py {' '.join(args)}", flush=True)
    subprocess.run([PYTHON, "manage.py", *args], cwd=PROJECT_ROOT, env=env, check=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
