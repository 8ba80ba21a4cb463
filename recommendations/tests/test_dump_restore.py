"""A PostgreSQL dump of a live platform restores to the same data, row for row, and the restored copy serves.

Operators back up with `pg_dump -Fc` and restore with `pg_restore`; this proves that nothing the product
stores (JSON reasons, decimals, timestamps, the active-version pointer, the beat schedule, artifact checksums)
is lost or changed on the way, and that the restored database has no migration pending.
"""

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from recommendations.models import ModelVersion
from recommendations.tests.test_services import retrain
from recommendations.tests.world import build_world

pytestmark = pytest.mark.django_db(transaction=True)


def _server() -> tuple[str, str, str]:
    db = connection.settings_dict
    return db["HOST"] or "127.0.0.1", str(db["PORT"] or 5432), db["USER"] or "postgres"


def _server_args() -> list[str]:
    host, port, user = _server()
    return ["-h", host, "-p", port, "-U", user]


def _conninfo(database: str) -> str:
    host, port, user = _server()
    return f"host={host} port={port} user={user} dbname={database}"


def _table_fingerprints(database: str) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent digest of every row of every table in the public schema."""
    with psycopg.connect(_conninfo(database), autocommit=True) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            )
        ]
        fingerprints = {}
        for table in tables:
            digest_sql = "md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), ''))"
            count, digest = conn.execute(f'SELECT count(*), {digest_sql} FROM "{table}" t').fetchone()
            fingerprints[table] = (count, digest)
        return fingerprints


@pytest.fixture(autouse=True)
def artifacts_dir(settings, tmp_path) -> None:
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"


@pytest.fixture
def scratch_database() -> Iterator[str]:
    name = f"restore_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_conninfo("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield name
    with psycopg.connect(_conninfo("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_dump_restores_to_identical_rows_with_the_same_active_version(scratch_database, tmp_path) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("dump and restore are PostgreSQL's tools")
    build_world(retailers=8, products=12, orders_each=5)
    run = retrain()
    active = ModelVersion.objects.get(status=ModelVersion.Status.ACTIVE)
    assert run.model_version_id == active.pk

    source = connection.settings_dict["NAME"]
    dump = tmp_path / "platform.dump"
    subprocess.run(["pg_dump", "-Fc", "-f", str(dump), *_server_args(), source], check=True)
    subprocess.run(
        ["pg_restore", "--no-owner", "--exit-on-error", *_server_args(), "-d", scratch_database, str(dump)],
        check=True,
    )

    original = _table_fingerprints(source)
    restored = _table_fingerprints(scratch_database)
    assert original["recommendations_recommendation"][0] > 0
    assert restored == original

    # The restored copy is a working platform: no migration pending and the same version active.
    host, port, user = _server()
    env = os.environ | {"DATABASE_URL": f"postgres://{user}@{host}:{port}/{scratch_database}"}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--check", "--noinput"],
        env=env,
        cwd=settings.BASE_DIR,
        check=True,
        capture_output=True,
    )
    with psycopg.connect(_conninfo(scratch_database), autocommit=True) as conn:
        (active_id,) = conn.execute(
            "SELECT id FROM recommendations_modelversion WHERE status = %s", [ModelVersion.Status.ACTIVE]
        ).fetchone()
    assert active_id == active.pk
