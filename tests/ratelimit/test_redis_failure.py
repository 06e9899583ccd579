"""Redis failing in production: the limiter fails open onto an in-process limiter with a logged
warning, keeps enforcing limits per process, and returns to Redis once it is back. Tested against a
redis-server of our own, stopped and restarted for real."""

from __future__ import annotations

import logging
import shutil
import signal
import socket
import subprocess
import time
import uuid

import pytest
import redis

from apps.ratelimit.limiter import FailOpenLimiter, LocalLimiter, RedisLimiter
from apps.ratelimit.store import bucket_key
from tests.ops.processes import die_with_parent

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")


class RedisServer:
    """A throwaway redis-server on a free loopback port, no persistence."""

    def __init__(self, tmp_path):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.dir = tmp_path
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=die_with_parent(signal.SIGKILL),
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def stored_keys(self) -> list[bytes]:
        return redis.Redis.from_url(self.url).keys("*")


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def test_limiter_fails_open_to_local_limits_and_returns_to_redis(redis_server, caplog):
    limiter = FailOpenLimiter(RedisLimiter(redis_server.url, timeout=0.2), LocalLimiter(), retry_seconds=0)
    key = f"rl-failover:{uuid.uuid4().hex}"
    assert limiter.consume(key, limit=3, period=60).remaining == 2
    assert redis_server.stored_keys() != [] and not limiter.is_degraded

    redis_server.stop()
    with caplog.at_level(logging.WARNING, logger="apps.ratelimit.limiter"):
        local = [limiter.consume(key, limit=3, period=60) for _ in range(4)]
    # The local limiter starts its own bucket: limits still hold, per process.
    assert [d.allowed for d in local] == [True, True, True, False]
    assert limiter.is_degraded
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith("Rate limiter: Redis unavailable")

    caplog.clear()
    redis_server.start()  # same port, empty: the script cache is gone too
    with caplog.at_level(logging.WARNING, logger="apps.ratelimit.limiter"):
        back = limiter.consume(key, limit=3, period=60)
    assert (back.allowed, back.remaining) == (True, 2)
    assert not limiter.is_degraded
    assert [k.decode() for k in redis_server.stored_keys() if not k.decode().count(":u:")] == [key]
    assert [r.getMessage() for r in caplog.records] == ["Rate limiter: Redis is back; limiting in Redis again."]


def test_while_redis_is_down_it_is_retried_only_every_retry_interval(redis_server):
    clock = [100.0]
    limiter = FailOpenLimiter(RedisLimiter(redis_server.url, timeout=0.2), LocalLimiter(), retry_seconds=5,
                              clock=lambda: clock[0])
    redis_server.stop()
    limiter.consume("k", limit=10, period=60)
    redis_server.start()
    clock[0] += 4.9
    limiter.consume("k", limit=10, period=60)
    assert redis_server.stored_keys() == []  # still within the retry interval: Redis not asked
    clock[0] += 0.2
    limiter.consume("k", limit=10, period=60)
    assert b"k" in redis_server.stored_keys()


@pytest.mark.django_db
def test_api_keeps_answering_when_redis_stops(redis_server, settings, authed_client, caplog):
    settings.PRAETOR_RATELIMIT_REDIS_URL = redis_server.url
    settings.PRAETOR_RATELIMIT_REDIS_RETRY_SECONDS = 0
    settings.PRAETOR_RATELIMIT_USER_PER_MINUTE = 4
    first = authed_client.get("/api/me/")
    assert (first.status_code, first["RateLimit-Remaining"]) == (200, "3")
    user_bucket = bucket_key("api", "user", first.json()["id"]).encode()
    assert user_bucket in redis_server.stored_keys()

    redis_server.stop()
    with caplog.at_level(logging.WARNING, logger="apps.ratelimit.limiter"):
        during = [authed_client.get("/api/me/") for _ in range(5)]
    assert [r.status_code for r in during] == [200, 200, 200, 200, 429]
    assert all(r.has_header("RateLimit-Limit") for r in during)
    assert any("Redis unavailable" in r.getMessage() for r in caplog.records)

    redis_server.start()
    after = authed_client.get("/api/me/")
    assert (after.status_code, after["RateLimit-Remaining"]) == (200, "3")  # a fresh Redis: a full bucket
    assert user_bucket in redis_server.stored_keys()


def test_unreachable_redis_costs_at_most_the_timeout():
    # A blackholed address (TEST-NET-1) never answers: the fallback must not hang the request.
    limiter = FailOpenLimiter(RedisLimiter("redis://192.0.2.1:6379/0", timeout=0.2), LocalLimiter(), retry_seconds=60)
    began = time.monotonic()
    assert limiter.consume("k", limit=2, period=60).allowed is True
    assert time.monotonic() - began < 1.0
    began = time.monotonic()
    limiter.consume("k", limit=2, period=60)
    assert time.monotonic() - began < 0.05  # within the retry interval Redis is not tried again
