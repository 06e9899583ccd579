"""A task run's set_state the optimistic way and the locked way, in one process (bench/hot_requests.py's
workload, alternating flow run by flow run), with the PostgreSQL backend's CPU per request.

The locked way is forced by hiding PostgreSQL from the service's vendor check (apps/engine/services/
task_runs.py takes the optimistic way on PostgreSQL only); the backend's CPU is read from
/proc/<pid>/schedstat (nanoseconds on CPU), so the database must run on this machine and be readable.

    DJANGO_SETTINGS_MODULE=config.settings.test python bench/set_state_ways.py [-F 16 -T 10]
"""

from __future__ import annotations

import sys
import types
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import hot_requests as hr

ENDPOINT = "POST task_runs/{id}/set_state"
_backend_ns: dict[str, list[int]] = defaultdict(list)
_way = {"name": "optimistic"}
_call, _workload = hr.Runner.call, hr.workload


def _backend_cpu_ns() -> int:
    from django.db import connection

    connection.ensure_connection()
    pid = getattr(connection, "_bench_backend_pid", None)
    if pid is None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = connection._bench_backend_pid = cursor.fetchone()[0]
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0])


def _call_by_way(self, name, method, path, body=None):
    if name == ENDPOINT:
        name = f"{name} [{_way['name']}]"
    if not self.measure or self.profiled_pass:
        return _call(self, name, method, path, body)
    before = _backend_cpu_ns()
    answer = _call(self, name, method, path, body)
    _backend_ns[name].append(_backend_cpu_ns() - before)
    return answer


def _alternating(runner, flow_id: str, flows: int, tasks: int) -> None:
    from django.db import connection

    from apps.engine.services import task_runs

    for i in range(flows):
        _way["name"] = "locked" if i % 2 else "optimistic"
        task_runs.connection = types.SimpleNamespace(vendor="hidden") if i % 2 else connection
        _workload(runner, flow_id, 1, tasks)
    task_runs.connection = connection


def main() -> None:
    hr.Runner.call, hr.workload = _call_by_way, _alternating
    hr.main()
    print(f"{'PostgreSQL backend CPU':48} {'n':>5} {'ms/req':>8}")
    for name, values in _backend_ns.items():
        if name.startswith(ENDPOINT):
            print(f"{name:48} {len(values):5d} {sum(values) / len(values) / 1e6:8.3f}")


if __name__ == "__main__":
    main()
