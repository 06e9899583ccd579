"""config/server.py: the gunicorn worker's proxy-headers test kept per address gives uvicorn's outcomes (the
scope's client and scheme) for trusted and untrusted peers, with and without X-Forwarded-For/-Proto; the threads
worker's (config/http_server/ `forwarded`) gives the same; deploy/gunicorn.conf.py picks the worker."""

from __future__ import annotations

import asyncio
import itertools
import runpy
from pathlib import Path

import pytest
from gunicorn.workers.base import Worker as GunicornWorker
from uvicorn.config import Config
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware, _TrustedHosts

from config import server
from config.http_server import forwarded
from config.server import ThreadsWorker, Worker, _TrustedHostsMemo, remember_trusted_hosts, split_application

SETTINGS = ["127.0.0.1", "127.0.0.1, 10.0.0.0/8", "*", ["127.0.0.1", "::1"], "unix:/run/proxy.sock", "", "::1",
            "192.168.0.0/16, not-an-address"]
PEERS = [("127.0.0.1", 40000), ("10.1.2.3", 5555), ("192.168.4.5", 80), ("::1", 6000), ("203.0.113.9", 1),
         ("unix:/run/proxy.sock", 0), ("not-an-address", 0), None]
FORWARDED_FOR = [None, b"198.51.100.7", b"198.51.100.7, 10.0.0.1", b"10.0.0.1, 127.0.0.1", b"", b" , ",
                 b"2001:db8::1", b"unix:/run/proxy.sock, 192.168.1.1"]
FORWARDED_PROTO = [None, b"https", b"http", b" wss ", b"ftp"]


def _outcome(app, scope_type, peer, forwarded_for, forwarded_proto):
    seen = {}

    async def inner(scope, receive, send):
        seen.update(client=scope.get("client"), scheme=scope.get("scheme"))

    app.app = inner
    headers = [(b"host", b"praetor.example.com")]
    if forwarded_for is not None:
        headers.append((b"x-forwarded-for", forwarded_for))
    if forwarded_proto is not None:
        headers.append((b"x-forwarded-proto", forwarded_proto))
    scope = {"type": scope_type, "client": peer, "scheme": "ws" if scope_type == "websocket" else "http",
             "headers": headers}
    asyncio.run(app(scope, None, None))
    return seen


@pytest.mark.parametrize("setting", SETTINGS, ids=str)
def test_the_memo_answers_as_uvicorns_trusted_hosts(setting):
    uvicorns = ProxyHeadersMiddleware(None, trusted_hosts=setting)
    ours = remember_trusted_hosts(ProxyHeadersMiddleware(None, trusted_hosts=setting), setting)
    assert type(ours.trusted_hosts) is _TrustedHostsMemo
    cases = list(itertools.product(["http", "websocket"], PEERS, FORWARDED_FOR, FORWARDED_PROTO))
    for _ in range(2):  # the addresses worked out, then answered from the memo
        for case in cases:
            assert _outcome(ours, *case) == _outcome(uvicorns, *case), case
    for host in [None, "", "127.0.0.1", "10.9.9.9", "::1", "0:0:0:0:0:0:0:1", "198.51.100.7", "unix:/run/proxy.sock"]:
        assert (host in ours.trusted_hosts) is (host in uvicorns.trusted_hosts), host


def test_the_memo_is_bounded(monkeypatch):
    monkeypatch.setattr(server, "_MEMO_SIZE", 8)
    memo = _TrustedHostsMemo("10.0.0.0/8")
    answers = [f"10.0.0.{i}" in memo for i in range(20)] + ["192.168.0.1" in memo]
    assert answers == [True] * 20 + [False] and len(memo._known) <= 8


def test_the_worker_gives_uvicorns_middleware_the_memo(monkeypatch):
    """What Worker._serve does to the application uvicorn loads, on a Config as uvicorn_worker builds it."""
    async def app(scope, receive, send):
        return None

    config = Config(app=app, forwarded_allow_ips=["127.0.0.1", "10.0.0.0/8"], log_config=None)
    config.load()
    loaded = remember_trusted_hosts(config.loaded_app, config.forwarded_allow_ips)
    assert isinstance(loaded, ProxyHeadersMiddleware) and loaded.app is app
    assert type(loaded.trusted_hosts) is _TrustedHostsMemo
    assert vars(_TrustedHosts(config.forwarded_allow_ips)) == {
        k: v for k, v in vars(loaded.trusted_hosts).items() if k != "_known"}
    off = Config(app=app, proxy_headers=False, log_config=None)
    off.load()
    assert remember_trusted_hosts(off.loaded_app, off.forwarded_allow_ips) is app  # nothing to give it


@pytest.mark.parametrize("setting", SETTINGS, ids=str)
def test_the_threads_servers_proxy_headers_give_uvicorns_outcomes(setting):
    uvicorns = ProxyHeadersMiddleware(None, trusted_hosts=setting)
    memo = _TrustedHostsMemo(setting)
    for peer, forwarded_for, forwarded_proto in itertools.product(PEERS, FORWARDED_FOR, FORWARDED_PROTO):
        expected = _outcome(uvicorns, "http", peer, forwarded_for, forwarded_proto)
        client, scheme = forwarded(memo, peer, forwarded_for, forwarded_proto, "http")
        assert {"client": client, "scheme": scheme} == expected, (peer, forwarded_for, forwarded_proto)
    assert forwarded(None, ("127.0.0.1", 1), b"198.51.100.7", b"https", "http") == (("127.0.0.1", 1), "http")


def _gunicorn_conf(monkeypatch, web_server):
    if web_server is None:
        monkeypatch.delenv("PRAETOR_WEB_SERVER", raising=False)
    else:
        monkeypatch.setenv("PRAETOR_WEB_SERVER", web_server)
    return runpy.run_path(str(Path(__file__).resolve().parents[2] / "deploy" / "gunicorn.conf.py"))


@pytest.mark.parametrize(("web_server", "worker"), [(None, "config.server.ThreadsWorker"),
                                                    ("threads", "config.server.ThreadsWorker"),
                                                    ("uvicorn", "config.server.Worker")])
def test_gunicorn_runs_the_worker_the_setting_names(monkeypatch, web_server, worker):
    assert _gunicorn_conf(monkeypatch, web_server)["worker_class"] == worker
    assert Worker.CONFIG_KWARGS == {"loop": "auto", "http": "auto"}  # uvicorn's (uvloop and httptools)
    assert issubclass(ThreadsWorker, GunicornWorker)


def test_an_unknown_web_server_setting_stops_gunicorn_at_start(monkeypatch):
    with pytest.raises(KeyError):
        _gunicorn_conf(monkeypatch, "gevent")


def test_the_threads_worker_serves_the_applications_config_asgi_routes():
    from config.asgi import application, django_wsgi_app, websocket_application

    assert split_application(application) == (django_wsgi_app, websocket_application)
    with pytest.raises(RuntimeError, match=r"config\.asgi:application"):
        split_application(django_wsgi_app)
