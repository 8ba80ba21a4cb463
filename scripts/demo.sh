#!/usr/bin/env bash
# Runs the product: migrate, build the demo world once, train once, serve on http://127.0.0.1:8000.
# Embedded default (no DATABASE_URL / REDIS_URL): SQLite, tasks in-process. With REDIS_URL set a Celery worker
# and beat run beside the web server and stop with it.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBUG="${DEBUG:-true}"
PY=.venv/bin/python

$PY manage.py migrate --noinput

has() { $PY manage.py shell -c "import sys; from $1; sys.exit(0 if $2 else 1)" 2>/dev/null; }

if has "orders.demo_world import DEMO_USERNAMES; from accounts.models import User" \
  "User.objects.filter(username__in=DEMO_USERNAMES.values()).exists()"; then
  echo "Demo world already built."
else
  $PY manage.py seed_demo
fi

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT
if [ -n "${REDIS_URL:-}" ]; then
  .venv/bin/celery -A smartbasket worker -Q celery,recommendations --concurrency 1 --loglevel INFO &
  pids+=($!)
  .venv/bin/celery -A smartbasket beat --loglevel INFO &
  pids+=($!)
fi

if has "recommendations.models import ModelVersion" "ModelVersion.objects.filter(status='active').exists()"; then
  echo "An active model version exists; retrain from the admin or with 'manage.py retrain'."
else
  $PY manage.py retrain
fi

$PY manage.py shell -c "
from orders.demo_world import DEMO_PASSWORD, DEMO_USERNAMES
print()
print('SmartBasket is at http://127.0.0.1:8000  (Ctrl-C stops it)')
for role, username in DEMO_USERNAMES.items():
    print(f'  {role:<9} username {username:<14} password {DEMO_PASSWORD}')
"
$PY manage.py runserver 127.0.0.1:8000
