#!/usr/bin/env bash
# Install (if missing) and start a local PostgreSQL for the store tests; print its URL.
set -euo pipefail
exec 3>&1 1>&2  # everything but the URL goes to standard error; the URL to the caller
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  apt-get update -qq >/dev/null && apt-get install -y -qq postgresql >/dev/null
fi
version=$(ls /usr/lib/postgresql | sort -n | tail -1)
pg_lsclusters -h | grep -q "^$version main" || pg_createcluster "$version" main >/dev/null
# The server outlives this script: it must hold none of the caller's streams (fd 3 is the
# caller's $(...) pipe), or the caller waits for an end of file that never comes.
pg_ctlcluster "$version" main start </dev/null >/dev/null 2>&1 3>&- || true
for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
su postgres -c "psql -q -c \"DO \\\$\\\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'treatment') THEN CREATE ROLE treatment LOGIN PASSWORD 'treatment'; END IF; END\\\$\\\$;\""
# The replica tests give each test a database of its own (tests/replicas.py).
su postgres -c "psql -q -c 'ALTER ROLE treatment CREATEDB'"
su postgres -c "psql -q -tc \"SELECT 1 FROM pg_database WHERE datname = 'treatment_test'\" | grep -q 1 || psql -q -c 'CREATE DATABASE treatment_test OWNER treatment'"
echo "postgresql+psycopg://treatment:treatment@127.0.0.1:5432/treatment_test" >&3
