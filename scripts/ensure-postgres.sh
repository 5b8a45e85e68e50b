#!/usr/bin/env bash
# Makes sure the PostgreSQL the tests use is up (idempotent): the local cluster on 127.0.0.1:5432,
# started with pg_ctlcluster when it is stopped, trust auth for user postgres. The tests then create
# a throw-away database per test runtime (test/helpers/postgres.ts). WARDEN_TEST_PG_URL points the
# tests at another server instead; then this script only waits for it. In CI (CI=true) a server
# that cannot be reached is a failure; elsewhere a warning (the PostgreSQL pass is then skipped).
set -euo pipefail
url="${WARDEN_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

fail() {
  if [ "${CI:-}" = "true" ]; then
    echo "ensure-postgres: $1" >&2
    exit 1
  fi
  echo "warning: ensure-postgres: $1; the PostgreSQL tests will be skipped" >&2
  exit 0
}

ready() { pg_isready -q -d "$url" -t 2 >/dev/null 2>&1; }

command -v pg_isready >/dev/null 2>&1 || fail "pg_isready not found (install postgresql-client)"
ready && exit 0

if [ -z "${WARDEN_TEST_PG_URL:-}" ]; then
  command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ] || fail "no local PostgreSQL cluster (install postgresql)"
  version="$(ls /etc/postgresql | sort -V | tail -n 1)"
  [ -n "$version" ] || fail "no cluster under /etc/postgresql"
  if [ "$(id -u)" != 0 ] && [ "$(id -un)" != postgres ]; then
    fail "PostgreSQL $version/main is stopped and only root or postgres can start it"
  fi
  echo "ensure-postgres: starting PostgreSQL $version/main"
  # --skip-systemctl-redirect: containers and CI runners have no systemd to hand the start to.
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || fail "pg_ctlcluster $version main start failed"
fi

for _ in $(seq 1 60); do
  ready && exit 0
  sleep 0.5
done
fail "PostgreSQL at ${url#*@} did not become ready within 30 s"
