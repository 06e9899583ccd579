#!/usr/bin/env bash
# Find PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) for the tests; start them if they are
# installed but down; otherwise fail with one clear message.
set -uo pipefail
pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null || (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
redis_up() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]; }

if ! pg_up; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "services: starting PostgreSQL" >&2
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  fi
fi
if ! redis_up; then
  if command -v redis-server >/dev/null 2>&1; then
    echo "services: starting Redis" >&2
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null || true
    for _ in $(seq 1 30); do redis_up && break; sleep 0.5; done
  fi
fi
pg_up || { echo "services: PostgreSQL is not reachable on 127.0.0.1:5432 and could not be started." >&2; exit 1; }
redis_up || { echo "services: Redis is not reachable on 127.0.0.1:6379 and could not be started." >&2; exit 1; }
