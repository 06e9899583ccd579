"""This server's CPU per event received on the `events/in` websocket, with and without per-message compression.

    .venv/bin/python bench/events_in.py [-N 2000] [--rounds 3]
    .venv/bin/python bench/events_in.py --in-process [-N 1000] [--top 25]

Starts this server as deployed (gunicorn, production settings, one worker, database `praetor_clientev`,
or $BENCH_EVENTS_DATABASE).
In alternating rounds, a sender in the client's venv (websockets 13.1, connecting as the prefect 2.20
client does, `Authorization: bearer`) streams N task-run events shaped like the client's (about 0.8 KB of
JSON each) over one websocket, pinging every 20 events as the client does and waiting for the last pong,
so every event is stored when it stops; once offering permessage-deflate as the client does (uvicorn
accepts it: both ends compress every event) and once not (neither end compresses). Printed per round: the
server's CPU per event (its process tree and the PostgreSQL backends of its database, from /proc), the
sender's own CPU per event, and what was negotiated.
Only processes this script started are stopped.

`--in-process` instead sends the events through Channels' test communicator to config.asgi in this
process (no uvicorn, no websocket framing; production-like settings: DEBUG off, connections kept) and
prints the CPU per event of the consumer, Django and the insert, then a cProfile of all threads (one
profiler per thread: the insert runs in asgiref's executor thread) by own and cumulative CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare
import flows

ROOT = flows.ROOT
DATABASE = os.environ.get("BENCH_EVENTS_DATABASE", "praetor_clientev")  # another name keeps parallel runs apart

SENDER = r"""
import asyncio, json, sys, time, uuid
from datetime import datetime, timezone
from websockets.client import connect

url, key, n, offer = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
flow_run, flow, task_run = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

def event(i):
    return {
        "occurred": datetime.now(timezone.utc).isoformat(), "event": "prefect.task-run.Completed",
        "resource": {"prefect.resource.id": f"prefect.task-run.{task_run}", "prefect.resource.name": f"work-{i}",
                     "prefect.state-message": "", "prefect.state-name": "Completed",
                     "prefect.state-timestamp": datetime.now(timezone.utc).isoformat(),
                     "prefect.state-type": "COMPLETED", "prefect.orchestration": "client"},
        "related": [{"prefect.resource.id": f"prefect.flow-run.{flow_run}", "prefect.resource.name": "eager-condor",
                     "prefect.resource.role": "flow-run"},
                    {"prefect.resource.id": f"prefect.flow.{flow}", "prefect.resource.name": "bench-flow",
                     "prefect.resource.role": "flow"}],
        "payload": {"intended": {"from": "RUNNING", "to": "COMPLETED"},
                    "initial_state": {"type": "RUNNING", "name": "Running", "message": ""},
                    "validated_state": {"type": "COMPLETED", "name": "Completed", "message": ""}},
        "id": str(uuid.uuid4()), "follows": str(uuid.uuid4()),
    }

async def main():
    async with connect(url, extra_headers={"Authorization": f"bearer {key}"},
                       compression="deflate" if offer else None) as ws:
        await (await ws.ping())
        cpu, wall = time.process_time(), time.perf_counter()
        for i in range(n):
            await ws.send(json.dumps(event(i)))
            if i % 20 == 19:
                await (await ws.ping())
        await (await ws.ping())
        print(json.dumps({"cpu": time.process_time() - cpu, "wall": time.perf_counter() - wall,
                          "extensions": [type(e).__name__ for e in ws.extensions]}))

asyncio.run(main())
"""


def send(ws_url: str, key: str, n: int, compression: str = "1") -> dict:
    python = ROOT / ".venv-prefect" / "bin" / "python"
    out = subprocess.run(
        [str(python), "-c", SENDER, ws_url, key, str(n), compression],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def stored_events() -> int:
    import psycopg

    with psycopg.connect(f"{compare.PG}/{DATABASE}") as conn:
        return conn.execute("SELECT count(*) FROM engine_event").fetchone()[0]


def in_process(n: int, top: int) -> None:
    import asyncio
    import cProfile
    import pstats
    import threading
    import time

    compare.fresh_database(DATABASE)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings.base",
        DEBUG="0",
        SECRET_KEY="bench-" + "x" * 40,
        DATABASE_URL=f"{compare.PG}/{DATABASE}",
        DB_CONN_MAX_AGE="60",
    )
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from asgiref.testing import ApplicationCommunicator

    from apps.billing.services import enterprise_set
    from apps.identity.services import api_key_create, user_create
    from apps.organizations.services import organization_create
    from apps.workspaces.services import workspace_create
    from config.asgi import application

    user = user_create(email="events-in@example.com", password=None)
    org = organization_create(name="Events in", handle="events-in", owner=user)
    enterprise_set(organization=org, overrides={"rate_limit_logs_events_per_minute": 10**9})
    workspace = workspace_create(organization=org, name="bench", handle="bench", description="", actor=user)
    _, secret = api_key_create(owner=user, name="bench", expires_at=None)
    path = f"/api/accounts/{org.pk}/workspaces/{workspace.pk}/events/in"
    template = SENDER.split("def event(i):", 1)[1].split("async def main", 1)[0]
    namespace: dict = {}
    exec(  # the sender's own event builder, so both modes send the same events
        "import uuid\nfrom datetime import datetime, timezone\nflow_run, flow, task_run = uuid.uuid4(), uuid.uuid4(), "
        "uuid.uuid4()\ndef event(i):" + template,
        namespace,
    )
    profiles: list = []

    async def stream(count: int) -> float:
        scope = {
            "type": "websocket",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": [(b"authorization", f"Bearer {secret}".encode())],
            "subprotocols": [],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        communicator = ApplicationCommunicator(application, scope)
        await communicator.send_input({"type": "websocket.connect"})
        assert (await communicator.receive_output(10))["type"] == "websocket.accept"
        messages = [json.dumps(namespace["event"](i)) for i in range(count)]
        cpu = time.process_time()
        for message in messages:
            await communicator.send_input({"type": "websocket.receive", "text": message})
        await communicator.send_input({"type": "websocket.disconnect", "code": 1000})
        await communicator.wait(120)  # the consumer handles messages in order: all stored when it returns
        return time.process_time() - cpu

    asyncio.run(stream(100))  # warm up
    spent = asyncio.run(stream(n))
    print(
        f"in process: CPU per event {spent / n * 1000:.3f} ms (consumer, Django and the insert; all threads); "
        f"load average {os.getloadavg()[0]:.1f}"
    )

    def profile_thread(frame, event, arg):
        profile = cProfile.Profile(time.thread_time)
        profiles.append(profile)
        profile.enable()

    threading.setprofile(profile_thread)
    # The consumer's inserts run on asgiref's one executor thread, started before profiling: a new one.
    from concurrent.futures import ThreadPoolExecutor

    from asgiref.sync import SyncToAsync

    SyncToAsync.single_thread_executor = ThreadPoolExecutor(max_workers=1)
    main = cProfile.Profile(time.thread_time)
    profiles.append(main)
    main.enable()
    asyncio.run(stream(n))
    main.disable()
    threading.setprofile(None)
    stats = pstats.Stats(profiles[0])
    for profile in profiles[1:]:
        stats.add(profile)
    hops = sum(v[0] for k, v in stats.stats.items() if k[2] == "run_in_executor")
    print(
        f"in process, profiled: {stats.total_calls / n:.0f} Python function calls per event (load-independent), "
        f"{hops / n:.1f} thread hops (run_in_executor) per event"
    )
    if not top:
        return
    print(f"--- top {top} by own CPU, {n} events ---")
    stats.sort_stats("tottime").print_stats(top)
    print(f"--- top {top} by cumulative CPU ---")
    stats.sort_stats("cumulative").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-N", type=int, default=2000, help="events per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--in-process", action="store_true", help="profile the consumer in this process")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    if args.in_process:
        in_process(args.N, args.top)
        return
    signal.signal(signal.SIGTERM, compare._stop_all)
    signal.signal(signal.SIGINT, compare._stop_all)
    workdir = Path(tempfile.mkdtemp(prefix="praetor-eventsin-"))
    print(f"logs in {workdir}; load average {os.getloadavg()} on {os.cpu_count()} cores; {args.N} events per round")
    try:
        compare.fresh_database(DATABASE)
        server, url, key, _ = compare.start_praetor(workdir, DATABASE, 1)
        ws_url = url.replace("http://", "ws://") + "/events/in"
        send(ws_url, key, 50)  # warm up: the first upgrade imports the consumer's modules
        figures = {"1": [], "0": []}
        for round_ in range(args.rounds):
            for compression in ("1", "0"):
                before = stored_events()
                with compare.CpuMeter(server.proc.pid, DATABASE) as meter:
                    sent = send(ws_url, key, args.N, compression)
                stored = stored_events() - before
                web, pg = meter.seconds("server") / args.N * 1000, meter.seconds("postgres") / args.N * 1000
                client = sent["cpu"] / args.N * 1000
                figures[compression].append((web, pg, client))
                print(
                    f"round {round_ + 1}, compression {'on ' if compression == '1' else 'off'} "
                    f"(negotiated {sent['extensions'] or 'none'}): stored {stored} of {args.N} "
                    f"in {sent['wall']:.1f} s; "
                    f"server CPU per event {web:.3f} ms + PostgreSQL {pg:.3f} ms; "
                    f"sender CPU per event {client:.3f} ms; "
                    f"load average {os.getloadavg()[0]:.1f}"
                )
    finally:
        for service in list(compare.Service.running):
            service.stop()
    for compression, rows in figures.items():
        best = min(rows)
        print(
            f"compression {'on ' if compression == '1' else 'off'}: server CPU per event, best of "
            f"{len(rows)}: {best[0]:.3f} ms (+ PostgreSQL {best[1]:.3f} ms), all rounds "
            f"{', '.join(f'{r[0]:.3f}' for r in rows)} ms; sender {', '.join(f'{r[2]:.3f}' for r in rows)} ms"
        )
    print(f"load average at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
