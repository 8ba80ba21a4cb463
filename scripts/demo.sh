#!/usr/bin/env bash
# Runs the product: migrate, build the demo world once, serve on http://127.0.0.1:8000 (gunicorn,
# gunicorn.conf.py) while the first model trains in the background. Until a version is active the dashboard
# and the API serve the cold-start lists (recommendations/cold_start.py) and say that training is under way;
# the first request after it is published shows the model's lists (pages read the active version per request).
# Embedded default (no DATABASE_URL / REDIS_URL): SQLite in WAL mode, the training in a separate
# `manage.py retrain` process that stops with this script. With REDIS_URL set a Celery worker and beat run
# beside the web server and stop with it, and the training is queued to that worker.
# The first run writes .env (SMARTBASKET_ENV_FILE) with what it ran with, so manage.py, gunicorn and celery in
# a fresh shell find the same database, broker and secret key; later runs read it back.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
ENV_FILE="${SMARTBASKET_ENV_FILE:-.env}"

if [ ! -e "$ENV_FILE" ]; then
  secret_key=$($PY -c "import secrets; print(secrets.token_urlsafe(50))")
  (
    umask 077
    {
      echo "# Written by 'make demo' on $(date -u +%Y-%m-%dT%H:%MZ): what it ran with. manage.py, gunicorn and"
      echo "# celery read this file; a variable set in the environment wins. See .env.example for the others."
      echo "DEBUG=${DEBUG:-true}"
      echo "SECRET_KEY=$secret_key"
      [ -n "${DATABASE_URL:-}" ] && echo "DATABASE_URL=$DATABASE_URL"
      [ -n "${REDIS_URL:-}" ] && echo "REDIS_URL=$REDIS_URL"
      true
    } >"$ENV_FILE"
  )
  echo "Wrote $ENV_FILE (DEBUG, SECRET_KEY${DATABASE_URL:+, DATABASE_URL}${REDIS_URL:+, REDIS_URL})."
fi
# What .env sets and this shell does not, so the checks below (REDIS_URL) see what Django sees.
eval "$($PY -c 'from smartbasket.env import shell_exports; print(shell_exports(), end="")')"
export DEBUG="${DEBUG:-true}"

bind="${GUNICORN_BIND:-127.0.0.1:8000}"
# Migrate, build the demo world once, print the logins: one Django start (orders/management/commands/
# demo_prepare.py); exit status 3 means no model version is active yet.
status=0
$PY manage.py demo_prepare --url "http://${bind%%,*}" || status=$?
[ "$status" -eq 0 ] || [ "$status" -eq 3 ] || exit "$status"

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT
if [ -n "${REDIS_URL:-}" ]; then
  .venv/bin/celery -A smartbasket worker -Q celery,recommendations --concurrency 1 --loglevel INFO &
  pids+=($!)
  if [ -n "${DATABASE_URL:-}" ]; then
    # At most one beat per database, however many demos run against it (smartbasket/beat.py).
    $PY -m smartbasket.beat --loglevel INFO &
  else
    .venv/bin/celery -A smartbasket beat --loglevel INFO &
  fi
  pids+=($!)
fi

if [ "$status" -eq 0 ]; then
  echo "An active model version exists; retrain from the admin or with 'manage.py retrain'."
else
  log=var/demo-retrain.log
  mkdir -p var
  # With a broker the run is queued to the worker above; otherwise it trains in a process of its own that
  # stops with this script. Niced, so the web server answers first; its output would interleave with the
  # access log, hence the log file.
  retrain=(nice -n 10 $PY manage.py retrain)
  [ -n "${REDIS_URL:-}" ] || retrain+=(--in-process)
  "${retrain[@]}" >"$log" 2>&1 &
  pids+=($!)
  echo "Training the first model in the background (log: $log); until it is published the dashboard shows"
  echo "what shops in your region and segment order and the newest arrivals, then the model's suggestions."
fi
# The production server, with DEBUG on: WhiteNoise serves static files straight from the source folders (its
# finders), so no collectstatic is needed here. Two workers are plenty for one person and SQLite.
WEB_CONCURRENCY="${WEB_CONCURRENCY:-2}" .venv/bin/gunicorn --config gunicorn.conf.py smartbasket.wsgi:application
