"""`python -m smartbasket.beat [celery beat options]`: celery beat, at most one per database.

Two beats would queue every periodic task twice (two nightly retrains fighting over the active version).
The beat runs only while this process holds a PostgreSQL advisory lock on a connection of its own; a second
start on the same database (another terminal, another host behind the same balancer) stands by, and takes
over when the first stops or dies, since PostgreSQL releases the lock with the connection.

Why an advisory lock and not a pidfile with `flock`: a file lock only sees processes on the same machine and
the same file system, while what must stay single is the beat per *database*; and a lock held by a
connection cannot outlive its holder (kill -9, power loss), so there is no stale pidfile to clean up.

The lock is only as good as the connection that holds it, so the holder checks it every second and stops
beat as soon as it is gone (PostgreSQL restarted, the backend terminated, the network cut: TCP keepalives
and `tcp_user_timeout` bound how long a dead connection can look alive). A standby that gets the lock waits
longer than that before it starts beat, so the old holder has stopped its beat first.
"""

import logging
import os
import signal
import subprocess
import sys
import threading
from types import FrameType

import psycopg

from smartbasket.env import load_env_file

LOCK_NAME = "smartbasket:celery-beat"
STANDBY_POLL_SECONDS = 5
HOLDER_CHECK_SECONDS = 1
# How long a connection may be dead before the holder's check fails (keepalives, tcp_user_timeout).
DEAD_CONNECTION_SECONDS = 4
TAKEOVER_DELAY_SECONDS = DEAD_CONNECTION_SECONDS + 2 * HOLDER_CHECK_SECONDS
STOP_TIMEOUT_SECONDS = 20

logger = logging.getLogger("smartbasket.beat")


def _connect() -> psycopg.Connection:
    from django.conf import settings

    database = settings.DATABASES["default"]
    if "postgresql" not in database["ENGINE"]:
        raise SystemExit("celery beat needs PostgreSQL (DATABASE_URL) for its lock; SQLite has none.")
    params = {
        "dbname": database["NAME"],
        "user": database["USER"] or None,
        "password": database["PASSWORD"] or None,
        "host": database["HOST"] or None,
        "port": database["PORT"] or None,
        **database["OPTIONS"],
        "application_name": "smartbasket celery beat lock",
        "connect_timeout": 5,
        "keepalives": 1,
        "keepalives_idle": 2,
        "keepalives_interval": 1,
        "keepalives_count": 2,
        "tcp_user_timeout": DEAD_CONNECTION_SECONDS * 1000,
    }
    given = {key: value for key, value in params.items() if value is not None}
    return psycopg.connect(**given, autocommit=True)


def _try_lock(connection: psycopg.Connection) -> bool:
    row = connection.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [LOCK_NAME]).fetchone()
    return bool(row and row[0])


def _stop(child: subprocess.Popen) -> None:
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


class BeatSingleton:
    def __init__(self, beat_arguments: list[str]) -> None:
        self.beat_arguments = beat_arguments
        self.stopping = threading.Event()
        self.standing_by = False

    def request_stop(self, signum: int, _frame: FrameType | None) -> None:
        logger.info("Signal %s: stopping", signal.Signals(signum).name)
        self.stopping.set()

    def run(self) -> int:
        while not self.stopping.is_set():
            try:
                connection = _connect()
            except psycopg.OperationalError as exc:
                logger.warning("Cannot reach PostgreSQL for the beat lock (%s); retrying", str(exc).strip())
                self.stopping.wait(STANDBY_POLL_SECONDS)
                continue
            with connection:
                try:
                    exit_code = self._lock_and_run(connection)
                except psycopg.Error as exc:
                    logger.warning("Lost the database connection of the beat lock (%s)", str(exc).strip())
                    continue
            if exit_code is not None:
                return exit_code
        return 0

    def _lock_and_run(self, connection: psycopg.Connection) -> int | None:
        while not _try_lock(connection):
            if not self.standing_by:
                logger.info(
                    "Another celery beat holds the lock on this database: standing by, to take over when "
                    "it stops"
                )
                self.standing_by = True
            if self.stopping.wait(STANDBY_POLL_SECONDS):
                return 0
        self.standing_by = False
        logger.info("Holding the beat lock; starting celery beat in %s s", TAKEOVER_DELAY_SECONDS)
        if self.stopping.wait(TAKEOVER_DELAY_SECONDS):
            return 0
        return self._run_beat(connection)

    def _run_beat(self, connection: psycopg.Connection) -> int | None:
        """Beat's exit code when it ends by itself or on a stop request; None when the lock was lost."""
        command = [sys.executable, "-m", "celery", "-A", "smartbasket", "beat", *self.beat_arguments]
        child = subprocess.Popen(command)
        try:
            while not self.stopping.wait(HOLDER_CHECK_SECONDS):
                if child.poll() is not None:
                    logger.error("celery beat exited with %s", child.returncode)
                    return child.returncode or 1
                try:
                    connection.execute("SELECT 1")
                except psycopg.Error:
                    logger.error("Lost the connection that holds the beat lock: stopping celery beat")
                    return None
            return 0
        finally:
            _stop(child)


def main(argv: list[str]) -> int:
    import django

    load_env_file()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartbasket.settings")
    django.setup()
    singleton = BeatSingleton(argv)
    signal.signal(signal.SIGTERM, singleton.request_stop)
    signal.signal(signal.SIGINT, singleton.request_stop)
    return singleton.run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
