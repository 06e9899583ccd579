"""Instructions of the lean dispatch's own pieces (valgrind's callgrind), each called 1,000 times alone: what a DRF
Response costs to make (`response`) against apps/core/api/lean.py's `respond`, the dispatch's shell around a handler
that returns at once (`dispatch`, `dispatchrender`: with lean_render), a view instance (`view`), a LeanRequest
(`lean`), the renderer context and its closer (`ctx`), the handler's status line (`status`); `empty` is subtracted.

The pieces run inside `sorted([0], key=loop)` under `--collect-atstart=no --toggle-collect=builtin_sorted`: only
what runs inside that call is counted (the garbage collector off). No database needed (config.settings.test).

    .venv/bin/python bench/dispatch_pieces.py [pieces...]
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIECES = ("empty", "response", "respond", "view", "lean", "ctx", "status", "dispatch", "dispatchrender")
N = 1000


def inner(piece: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import gc

    import django

    django.setup()
    from django.test import RequestFactory
    from rest_framework.response import Response

    from apps.core.api.lean import LeanRequest, _lean_dispatch, _release, lean_render, respond
    from apps.engine.api.task_runs import TaskRunSetStateView

    data = {"status": "ACCEPT", "details": {}, "state": {"type": "RUNNING"}}
    headers = {"Allow": "POST, OPTIONS", "Vary": "Accept"}
    request = RequestFactory().post("/x", b"{}", content_type="application/json")
    made = Response(data, status=201)

    class Quick(TaskRunSetStateView):
        def post(self, request, **kwargs):
            return respond(data, status=201)

    def nothing(*args):
        pass

    # tenancy, rate limit and permission out of the count (set on the class: the base view forbids overriding them)
    Quick.resolve_tenant = Quick.rate_limit_draw = Quick.check_declared_permission = nothing

    def view():
        self = TaskRunSetStateView()
        self.request, self.args, self.kwargs, self.format_kwarg = request, (), {}, None
        self.headers = dict(headers)

    def ctx():
        context = {"view": None, "args": (), "kwargs": {}, "request": None}
        made._resource_closers.append(functools.partial(_release, context))
        made._resource_closers.clear()

    def dispatch(render=False):
        response = _lean_dispatch(Quick, {}, request, {"id": "x"}, None, None, {})
        if render:
            lean_render(response)
        for closer in response._resource_closers:
            closer()

    calls = {
        "empty": nothing,
        "response": lambda: Response(data, status=201),
        "respond": lambda: respond(data, status=201),
        "view": view,
        "lean": lambda: LeanRequest(request, data, None, None),
        "ctx": ctx,
        "status": lambda: "%d %s" % (made.status_code, made.reason_phrase),  # noqa: UP031 - the handler's format
        "dispatch": dispatch,
        "dispatchrender": lambda: dispatch(True),
    }
    call = calls[piece]
    for _ in range(100):
        call()

    def loop(_):
        for _ in range(N):
            call()
        return 0

    gc.collect()
    gc.disable()
    sorted([0], key=loop)


def main() -> None:
    pieces = sys.argv[1:] or list(PIECES)
    work = Path(tempfile.mkdtemp(prefix="praetor-pieces-"))
    totals = {}
    for piece in ["empty", *[p for p in pieces if p != "empty"]]:
        out = work / f"cg.{piece}"
        subprocess.run(["valgrind", "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=builtin_sorted",
                        f"--callgrind-out-file={out}", sys.executable, __file__, "inner", piece],
                       check=True, capture_output=True, cwd=ROOT)
        totals[piece] = int(re.search(r"^summary: (\d+)", out.read_text(), re.M).group(1))
        if piece != "empty":
            print(f"  {piece:15} {(totals[piece] - totals['empty']) / N:10,.0f} instructions a call", flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["inner"]:
        inner(sys.argv[2])
    else:
        main()
