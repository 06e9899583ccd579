"""The lean dispatch of the hottest endpoints (apps/core/api/lean.py) answers exactly what DRF's dispatch
answers: each request below is sent with the lean path off and on, and status, headers and body (ids and
timestamps masked) must match; the plain cases must really take the lean path, the others DRF's."""

from __future__ import annotations

import difflib
import json
import re
import uuid

import pytest
from rest_framework.test import APIClient
from rest_framework.views import APIView

from apps.access import catalog
from apps.identity.services import api_key_create
from apps.organizations.models import Tier
from apps.ratelimit import middleware as ratelimit_middleware
from apps.ratelimit.store import bucket_key, get_leased_limiter, get_limiter
from tests.engine.runs_helpers import base, create_flow, create_flow_run, create_task_run, set_flow_state, state
from tests.factories.access import grant
from tests.factories.identity import UserFactory
from tests.factories.organizations import OrganizationFactory, membership
from tests.factories.workspaces import WorkspaceFactory

pytestmark = pytest.mark.django_db
MASKS = [
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<uuid>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?"), "<time>"),
    (re.compile(r'"(t|flow|numbers)-[0-9]+"'), '"<name>"'),
    (re.compile(r'"dynamic_key": ?"[^"]*"'), '"dynamic_key": "<key>"'),
    (re.compile(r'_delta": ?[0-9.e-]+'), '_delta": <seconds>'),
]
SKIPPED_HEADERS = {"RateLimit-Remaining", "RateLimit-Reset", "Content-Length"}  # these vary anyway


def _masked(response) -> tuple:
    body = response.content.decode()
    for pattern, mask in MASKS:
        body = pattern.sub(mask, body)
    headers = {k: v for k, v in response.headers.items() if k not in SKIPPED_HEADERS}
    return response.status_code, headers, body


@pytest.fixture
def dispatches(monkeypatch):
    calls = []
    original = APIView.dispatch

    def counted(self, request, *args, **kwargs):
        calls.append(type(self).__name__)
        return original(self, request, *args, **kwargs)

    monkeypatch.setattr(APIView, "dispatch", counted)
    return calls


@pytest.fixture
def compare(settings, dispatches, monkeypatch):
    # Addresses that failed authentication lately (earlier tests' 401s) take the full chain: start clean.
    monkeypatch.setattr(ratelimit_middleware, "_recent_failures", {})

    def both(send, *, lean: bool, route: bool | None = None, answered_before_the_view: bool = False):
        route = lean if route is None else route
        settings.PRAETOR_LEAN_VIEWS = False
        expected = _masked(send(0))
        settings.PRAETOR_LEAN_VIEWS = True
        dispatches.clear()
        response = send(1)
        got = _masked(response)
        # Retry-After counts down in whole seconds: the two requests may straddle a second.
        waits = [int(h.pop("Retry-After", -1)) for h in (expected[1], dict(got[1]))]
        assert abs(waits[0] - waits[1]) <= 1, waits
        assert got[0] == expected[0] and {k: v for k, v in got[1].items() if k != "Retry-After"} == expected[1]
        if waits != [-1, -1]:  # and so does the "Retry in N seconds" of a 429's message
            expected, got = ([*r[:2], re.sub(r"Retry in \d+ seconds", "Retry in N seconds", r[2])]
                             for r in (expected, got))
        assert got[2] == expected[2], [d for d in difflib.ndiff([expected[2]], [got[2]]) if d[0] in "?+-"]
        assert (dispatches == []) is lean, dispatches
        # The lean route (apps/core/lean_middleware.py) answers before URL resolution: no resolver match.
        if not answered_before_the_view:
            assert (response.wsgi_request.resolver_match is None) is route, response.wsgi_request.resolver_match
        return got

    return both


@pytest.fixture
def running(authed_client, workspace):
    run = create_flow_run(authed_client, workspace, create_flow(authed_client, workspace)["id"])
    set_flow_state(authed_client, workspace, run["id"], "RUNNING")
    return run


def _task_body(run_id, key: str) -> dict:
    return {"flow_run_id": run_id, "task_key": "numbers-0ac8511a", "dynamic_key": key, "name": "t",
            "state": state("PENDING"), "tags": [], "task_inputs": {}, "cache_key": None}


def _post(client, path, body, **extra):
    return client.post(path, data=json.dumps(body) if not isinstance(body, bytes) else body,
                       content_type=extra.pop("content_type", "application/json"), **extra)


def test_task_run_create_set_state_and_logs_answer_the_same(authed_client, workspace, running, compare):
    c, b, run_id = authed_client, base(workspace), running["id"]
    compare(lambda i: _post(c, b + "task_runs/", _task_body(run_id, f"new-{i}")), lean=True)  # 201
    create_task_run(c, workspace, run_id, dynamic_key="same")
    compare(lambda i: _post(c, b + "task_runs/", _task_body(run_id, "same")), lean=True)  # 200, the existing one
    tasks = [create_task_run(c, workspace, run_id, dynamic_key=f"s{i}")["id"] for i in range(2)]
    for type_ in ("RUNNING", "COMPLETED", "RUNNING"):  # accepted, accepted, rejected (terminal)
        compare(lambda i, t=type_: _post(c, b + f"task_runs/{tasks[i]}/set_state",
                                         {"state": state(t), "force": False}), lean=True)
    logs = [{"name": "x", "level": 20, "message": "m", "timestamp": "2024-01-01T00:00:00+00:00",
             "flow_run_id": run_id, "task_run_id": None}]
    compare(lambda i: _post(c, b + "logs/", logs), lean=True)  # 201, no body


def test_errors_answer_the_same(authed_client, workspace, organization, running, compare):
    c, b, run_id = authed_client, base(workspace), running["id"]
    task = create_task_run(c, workspace, run_id)["id"]
    other = WorkspaceFactory(organization=organization)
    foreign_run = create_flow_run(c, other, create_flow(c, other)["id"])["id"]
    stranger = base(WorkspaceFactory(organization=OrganizationFactory()))
    for path, body, expected in [
        ("task_runs/", {"flow_run_id": run_id}, 422),  # task_key missing
        ("task_runs/", _task_body(foreign_run, "x"), 404),  # another workspace's flow run
        ("task_runs/", {**_task_body(run_id, "y"), "surplus": 1}, 422),  # unknown field
        (f"task_runs/{uuid.uuid4()}/set_state", {"state": state("RUNNING")}, 404),
        (f"task_runs/{task}/set_state", {"state": {"type": "BOGUS"}}, 422),
        (f"task_runs/{task}/set_state", {"state": state("RUNNING"), "force": "maybe"}, 422),
        ("task_runs/not-a-uuid/set_state", {"state": state("RUNNING")}, 422),  # as FastAPI answers
        ("logs/", {"not": "a list"}, 422),
        ("logs/", [{"name": "x"}], 422),
    ]:
        assert compare(lambda i, p=path, body=body: _post(c, b + p, body), lean=True)[0] == expected, path
    assert compare(lambda i: _post(c, stranger + "task_runs/", _task_body(run_id, "z")), lean=True)[0] == 404


def test_requests_dispatched_by_drf_answer_the_same(authed_client, workspace, running, compare):
    c, b, run_id = authed_client, base(workspace), running["id"]
    body = _task_body(run_id, "d")
    compare(lambda i: _post(c, b + "task_runs/", b"{not json"), lean=False)  # 400
    compare(lambda i: _post(c, b + "task_runs/", b'{"x": NaN}'), lean=False)  # 400: DRF's strict JSON
    compare(lambda i: _post(c, b + "task_runs/", b""), lean=False)
    compare(lambda i: _post(c, b + "task_runs/", body, content_type="text/plain"), lean=False)  # 415
    compare(lambda i: _post(c, b + "task_runs/", body, HTTP_ACCEPT="text/html"), lean=False)  # 406
    compare(lambda i: c.get(b + "task_runs/"), lean=False)  # 405
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Bearer pnu_" + "x" * 36)
    compare(lambda i: _post(bad, b + "task_runs/", body), lean=False)  # 401
    compare(lambda i: _post(APIClient(), b + "task_runs/", body), lean=False)  # 401, no key


def test_missing_permission_and_rate_limit_answer_the_same(workspace, organization, running, compare):
    organization.tier = Tier.ENTERPRISE
    organization.save(update_fields=["tier"])
    user = UserFactory()
    membership(organization, user, "member")
    grant(workspace, role=catalog.READ_ONLY_COLLABORATOR, user=user)
    _, secret = api_key_create(owner=user, name="k", expires_at=None)
    reader = APIClient()
    reader.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    b = base(workspace)
    assert compare(lambda i: _post(reader, b + "task_runs/", _task_body(running["id"], "r")), lean=True)[0] == 403
    key = bucket_key("api", "org", organization.pk)
    get_limiter().consume(key, limit=10**6, period=60, cost=3 * 10**6, debt=True)  # empty for minutes
    get_leased_limiter().reset()  # this process's lease of that bucket (docs/ratelimit.md, "Leases")
    status, headers, _ = compare(lambda i: _post(reader, b + "logs/", []), lean=True)
    assert status == 429 and int(headers["Retry-After"]) > 60


def _lean_requests(c, workspace, run_id) -> list:
    """Senders (by attempt 0, 1) of a task run's create, a set_state and a log batch."""
    b = base(workspace)
    tag = uuid.uuid4().hex[:6]
    tasks = [create_task_run(c, workspace, run_id, dynamic_key=f"{tag}-{i}")["id"] for i in range(2)]
    logs = [{"name": "x", "level": 20, "message": "m", "timestamp": "2024-01-01T00:00:00+00:00",
             "flow_run_id": run_id, "task_run_id": None}]
    return [lambda i: _post(c, b + "task_runs/", _task_body(run_id, f"{tag}-new-{i}")),
            lambda i: _post(c, b + f"task_runs/{tasks[i]}/set_state", {"state": state("RUNNING"), "force": False}),
            lambda i: _post(c, b + "logs/", logs)]


def test_a_read_only_workspace_answers_the_same(authed_client, workspace, running, compare):
    from apps.core import authcache

    workspace.read_only = True
    workspace.save(update_fields=["read_only"])
    authcache.clear()
    c, b = authed_client, base(workspace)
    # Work under way stays open (docs/billing.md), on both paths alike.
    assert compare(lambda i: _post(c, b + "task_runs/", _task_body(running["id"], f"ro-{i}")), lean=True)[0] == 201
    tasks = [create_task_run(c, workspace, running["id"], dynamic_key=f"ro{i}")["id"] for i in range(2)]
    assert compare(lambda i: _post(c, b + f"task_runs/{tasks[i]}/set_state", {"state": state("RUNNING")}),
                   lean=True)[0] == 201
    assert compare(lambda i: c.post(b + "variables/", {"name": f"v{i}", "value": 1}, format="json"),
                   lean=False)[0] == 402


def test_an_address_that_failed_authentication_lately_takes_the_full_chain(authed_client, workspace, running,
                                                                           compare):
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Bearer pnu_" + "x" * 36)
    compare(lambda i: _post(bad, base(workspace) + "logs/", []), lean=False)  # 401: remembered
    for send in _lean_requests(authed_client, workspace, running["id"]):
        # The view's lean dispatch still answers, but after the rate-limit middleware's check of the address.
        compare(send, lean=True, route=False)


def test_security_and_host_checks_answer_the_same(workspace, running, user_key, compare, settings):
    def client() -> APIClient:  # a new handler: the middleware read the settings when it was built
        fresh = APIClient()
        fresh.credentials(HTTP_AUTHORIZATION=f"Bearer {user_key}")
        return fresh

    b = base(workspace)
    settings.SECURE_SSL_REDIRECT, settings.SECURE_HSTS_SECONDS = True, 3600
    c = client()
    # To https: the chain answers before any view (no DRF dispatch, and no lean route).
    status = compare(lambda i: _post(c, b + "task_runs/", _task_body(running["id"], f"h{i}")), lean=True,
                     answered_before_the_view=True)[0]
    assert status == 301
    status, headers, _ = compare(lambda i: _post(c, b + "task_runs/", _task_body(running["id"], f"s{i}"),
                                                 secure=True), lean=True)
    assert status == 201 and headers["Strict-Transport-Security"] == "max-age=3600"
    assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"
    settings.SECURE_SSL_REDIRECT = False
    settings.ALLOWED_HOSTS = ["example.com"]
    c = client()
    # DisallowedHost
    assert compare(lambda i: _post(c, b + "logs/", []), lean=True, answered_before_the_view=True)[0] == 400
    settings.ALLOWED_HOSTS = ["*"]
    settings.DISALLOWED_USER_AGENTS = [re.compile("bad-bot")]
    c = client()
    assert compare(lambda i: _post(c, b + "logs/", [], HTTP_USER_AGENT="a bad-bot"), lean=True,
                   answered_before_the_view=True)[0] == 403


@pytest.mark.parametrize("ids", [("a", "w", "r"), ("filter", "count", "filter"), ("x y", "%41", "set_state")])
def test_the_route_matcher_finds_what_the_resolver_finds(ids):
    from django.urls import resolve

    from apps.core.lean_middleware import _PATH

    account, ws, run = ids
    prefix = f"/api/accounts/{account}/workspaces/{ws}/"
    for path in (prefix + "task_runs/", prefix + f"task_runs/{run}/set_state", prefix + "logs/"):
        found, match = resolve(path), _PATH.match(path)
        assert match is not None and hasattr(found.func, "lean_dispatch"), path
        assert found.kwargs == {k: v for k, v in match.groupdict().items()
                                if k in ("account_id", "workspace_id", "id") and v is not None}
    for path in (prefix + "task_runs", prefix + "task_runs/r/set_state/", prefix + "task_runs/a/b/set_state",
                 prefix + "logs", prefix + "task_runs/filter", f"/api/accounts/{account}/task_runs/"):
        assert _PATH.match(path) is None, path


def test_the_lean_route_steps_aside_when_the_middleware_list_changes(settings):
    from django.core.exceptions import MiddlewareNotUsed

    from apps.core.lean_middleware import LeanRouteMiddleware

    LeanRouteMiddleware(lambda request: None)  # the configured list
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "django.middleware.gzip.GZipMiddleware"]
    with pytest.raises(MiddlewareNotUsed):
        LeanRouteMiddleware(lambda request: None)


def test_worker_poll_and_heartbeat_answer_the_same(authed_client, workspace, compare):
    c, b = authed_client, base(workspace)

    def lean(send):  # the views' lean dispatch answers; the lean route (three other endpoints) does not
        return compare(send, lean=True, route=False)

    assert _post(c, b + "work_pools/", {"name": "lean-pool", "type": "process"}).status_code == 201
    flow = create_flow(c, workspace)
    deployment = _post(c, b + "deployments/", {"name": "d", "flow_id": flow["id"], "work_pool_name": "lean-pool",
                                               "work_queue_name": "default", "parameters": {}, "tags": []}).json()
    for _ in range(2):
        assert _post(c, b + f"deployments/{deployment['id']}/create_flow_run", {}).status_code == 201
    poll = b + "work_pools/lean-pool/get_scheduled_flow_runs"
    got = lean(lambda i: _post(c, poll, {"scheduled_before": "2999-01-01T00:00:00+00:00", "limit": 10}))
    assert got[0] == 200 and got[2].count('"flow_run"') == 2
    lean(lambda i: _post(c, poll, {"work_queue_names": ["default"], "limit": 1}))
    lean(lambda i: _post(c, poll, {}))
    assert lean(lambda i: _post(c, poll, {"work_queue_names": ["nope"]}))[0] == 404
    assert lean(lambda i: _post(c, poll, {"limit": -1}))[0] == 422
    assert lean(lambda i: _post(c, b + "work_pools/nope/get_scheduled_flow_runs", {}))[0] == 404
    beat = b + "work_pools/lean-pool/workers/heartbeat"
    assert lean(lambda i: _post(c, beat, {"name": "w", "heartbeat_interval_seconds": 30}))[0] == 204
    assert lean(lambda i: _post(c, beat, {}))[0] == 422
    assert lean(lambda i: _post(c, b + "work_pools/nope/workers/heartbeat", {"name": "w"}))[0] == 404
    compare(lambda i: _post(c, poll, b"{not json"), lean=False)  # 400, DRF's
