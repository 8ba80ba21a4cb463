#!/usr/bin/env bash
# The production start (`make production`): migrate, collectstatic, then gunicorn (gunicorn.conf.py), a Celery
# worker and the Celery beat, in the foreground, all stopped together by Ctrl-C or SIGTERM. If any of them
# exits, the others are stopped too and the script exits non-zero, so a supervisor (systemd, a container
# runtime) restarts the whole set.
#
# Needs DATABASE_URL, REDIS_URL and SECRET_KEY, from the environment or from .env (SMARTBASKET_ENV_FILE);
# DEBUG is off. Any number of copies may run against one database (several hosts behind a balancer): only one
# of them runs beat at a time, the others stand by (smartbasket/beat.py explains the lock).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
BIN=.venv/bin

# Production runs with DEBUG off whatever .env says (`make demo` writes DEBUG=true there).
export DEBUG="${DEBUG:-false}"
case "${DEBUG,,}" in
  0 | false | no | off) ;;
  *)
    echo "scripts/production.sh runs with DEBUG off; unset DEBUG (or use 'make demo' for a DEBUG server)." >&2
    exit 1
    ;;
esac
$PY -m smartbasket.require_env DATABASE_URL REDIS_URL SECRET_KEY

$PY manage.py migrate --noinput
# With DEBUG off pages link hashed static file names from collectstatic's manifest; wsgi.py refuses to start
# without it. Idempotent: unchanged files are skipped.
$PY manage.py collectstatic --noinput --verbosity 1

# Each process gets its own process group (job control), so stopping one also stops its children (the worker's
# pool, beat under its lock holder) and Ctrl-C reaches only this script, which then stops them in order.
set -m
pids=()
names=()
start() {
  local name=$1
  shift
  "$@" &
  pids+=($!)
  names+=("$name")
  echo "production.sh: started $name (pid $!)"
}

stopping=0
stop_all() {
  [ "$stopping" = 1 ] && return
  stopping=1
  trap '' INT TERM
  echo "production.sh: stopping ${names[*]}"
  # Each leader gets SIGTERM, a warm shutdown: gunicorn finishes its requests, the worker its current task,
  # and each stops its own children. After the timeout whatever is left of a group is killed; a task cut
  # short is redelivered (acks late).
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  local deadline=$((SECONDS + ${SMARTBASKET_STOP_TIMEOUT:-30}))
  for pid in "${pids[@]}"; do
    while kill -0 -- "-$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  echo "production.sh: stopped"
}
on_signal() {
  stop_all
  exit 0
}
trap on_signal INT TERM

start gunicorn "$BIN/gunicorn" --config gunicorn.conf.py smartbasket.wsgi:application
start worker "$BIN/celery" -A smartbasket worker -Q celery,recommendations \
  --concurrency "${CELERY_WORKER_CONCURRENCY:-2}" --loglevel INFO
start beat "$PY" -m smartbasket.beat --loglevel INFO

# Returns when the first child exits (or a signal arrives, handled by the trap above).
set +e
wait -n "${pids[@]}"
status=$?
set -e
echo "production.sh: a process exited (status $status); stopping the others" >&2
stop_all
exit $((status == 0 ? 1 : status))
