#!/usr/bin/env bash
# Runs the whole test suite against real PostgreSQL, Redis, Celery workers and headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh

if ! command -v chromium >/dev/null 2>&1; then
  echo "Installing Debian's chromium for the browser tests"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
ensure_postgres
ensure_redis
ensure_database smartbasket

export DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/smartbasket}"
export REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379/0}"
export SECRET_KEY="test-only-secret-key-long-enough-for-hmac-sha256"
export DEBUG=0

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .

echo "== migrations in sync with models"
.venv/bin/python manage.py makemigrations --check --dry-run

echo "== pytest"
.venv/bin/python -m pytest "$@"
