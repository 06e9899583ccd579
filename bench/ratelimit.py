"""What the rate limiter adds to an API request: p50/p99 latency with it on and off, in one run.

    .venv/bin/python bench/ratelimit.py [--requests 3000] [--rounds 30]

Runs in-process against the test settings' real PostgreSQL and Redis (make test starts them), in the
test database, inside a transaction that is rolled back at the end. Requests go through the whole
Django stack (middleware, DRF authentication, tenant resolution, the handler) with the test client;
on and off alternate in rounds so both see the same machine noise. Also times one limiter decision
alone (Redis round trip, and the in-process limiter).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def fmt(samples: list[float]) -> str:
    return f"p50 {percentile(samples, 50) * 1000:7.3f} ms   p99 {percentile(samples, 99) * 1000:7.3f} ms"


def setup_tenant():
    from apps.billing.services import enterprise_set
    from apps.identity.services import api_key_create, user_create
    from apps.organizations.services import organization_create
    from apps.workspaces.services import workspace_create

    tag = uuid.uuid4().hex[:8]
    user = user_create(email=f"bench-{tag}@example.com", password=None)
    org = organization_create(name=f"Bench {tag}", handle=f"bench-{tag}", owner=user)
    # A limit the benchmark never reaches, so every request takes the allowed path.
    enterprise_set(organization=org, overrides={"rate_limit_api_per_minute": 10**9})
    workspace = workspace_create(organization=org, name="prod", handle="prod", description="", actor=user)
    _, secret = api_key_create(owner=user, name="bench", expires_at=None)
    return org, workspace, secret


def bench_requests(url: str, secret: str, total: int, rounds: int) -> tuple[dict, dict]:
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    for _ in range(50):  # warm caches, connections, the script cache
        assert client.get(url).status_code == 200
    samples: dict[bool, list[float]] = {True: [], False: []}
    cpu: dict[bool, list[float]] = {True: [], False: []}
    per_round = max(1, total // (2 * rounds))
    for round_no in range(rounds):
        for enabled in ((True, False) if round_no % 2 == 0 else (False, True)):
            with override_settings(PRAETOR_RATELIMIT_ENABLED=enabled):
                for _ in range(per_round):
                    began, began_cpu = time.perf_counter(), time.thread_time()
                    response = client.get(url)
                    samples[enabled].append(time.perf_counter() - began)
                    cpu[enabled].append(time.thread_time() - began_cpu)
                    assert response.status_code == 200, response.content
                    assert response.has_header("RateLimit-Limit") is enabled
    return samples, cpu


def bench_decisions(total: int) -> dict[str, list[float]]:
    from apps.ratelimit.limiter import LocalLimiter, RedisLimiter

    out = {}
    for name, limiter in (("redis", RedisLimiter(settings.PRAETOR_RATELIMIT_REDIS_URL)), ("local", LocalLimiter())):
        key = f"{settings.PRAETOR_REDIS_PREFIX}rl-bench:{uuid.uuid4().hex}"
        samples = []
        for _ in range(total):
            began = time.perf_counter()
            limiter.consume(key, limit=10**9, period=60)
            samples.append(time.perf_counter() - began)
        out[name] = samples
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="API requests in all (half on, half off)")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()

    setup_test_environment()
    connection.creation.create_test_db(verbosity=0, keepdb=True)
    settings.PRAETOR_RATELIMIT_NAMESPACE = f"bench{uuid.uuid4().hex[:8]}:"
    with transaction.atomic():
        org, workspace, secret = setup_tenant()
        url = f"/api/accounts/{org.pk}/workspaces/{workspace.pk}/block_types/slug/process"
        samples, cpu = bench_requests(url, secret, args.requests, args.rounds)
        transaction.set_rollback(True)
    decisions = bench_decisions(args.requests)

    on, off = samples[True], samples[False]
    print(f"GET {url.split('/workspaces/')[0]}/workspaces/…/block_types/slug/process, "
          f"{len(on)} requests per mode, {args.rounds} alternating rounds")
    print(f"  limiter off   {fmt(off)}")
    print(f"  limiter on    {fmt(on)}")
    added50 = (percentile(on, 50) - percentile(off, 50)) * 1000
    added99 = (percentile(on, 99) - percentile(off, 99)) * 1000
    print(f"  added         p50 {added50:7.3f} ms   p99 {added99:7.3f} ms   (target: < 1 ms at p50)")
    cpu50 = (percentile(cpu[True], 50) - percentile(cpu[False], 50)) * 1000
    print(f"  CPU time of this process per request: off p50 {percentile(cpu[False], 50) * 1000:.3f} ms, "
          f"on p50 {percentile(cpu[True], 50) * 1000:.3f} ms, added {cpu50:.3f} ms")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"  (machine load average {load} on {os.cpu_count()} cores)")
    print(f"one decision alone, {args.requests} draws:")
    for name, values in decisions.items():
        print(f"  {name:12}  {fmt(values)}   mean {statistics.fmean(values) * 1000:.3f} ms")


if __name__ == "__main__":
    main()
