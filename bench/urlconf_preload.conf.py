"""deploy/gunicorn.conf.py plus, in the master before each fork, Django's URLconf imported (the resolver's
patterns loaded): what a worker otherwise does at its first request, after every fork (start and each
max_requests recycle). bench/client_mix.py --config bench/urlconf_preload.conf.py measures a worker's first
request with it (docs/performance.md, "Eighth step"); a candidate for config/asgi.py, not deployed."""

from pathlib import Path

exec(compile(Path(__file__).resolve().parent.parent.joinpath("deploy", "gunicorn.conf.py").read_text(),
             "deploy/gunicorn.conf.py", "exec"))


_deployed_pre_fork = pre_fork  # noqa: F821 - defined by deploy/gunicorn.conf.py, executed above


def pre_fork(server, worker):
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imported once in the master; each fork inherits it
    _deployed_pre_fork(server, worker)  # after the import, so the URLconf's objects are frozen too
