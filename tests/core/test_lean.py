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
    (re.compile(r'"estimated_run_time": ?[0-9.e-]+'), '"estimated_run_time": <seconds>'),  # a Running run's
]
SKIPPED_HEADERS = {"RateLimit-Remaining", "RateLimit-Reset", "Content-Length"}  # these vary anyway


def _masked(response) -> tuple:
    body = response.content.decode()
    for pattern, mask in MASKS:
        body = pattern.sub(mask, body)
    headers = {k: v for k, v in response.headers.items() if k not in SKIPPED_HEADERS}
    return response.status_code, headers, body


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
        assert [k for k in got[1] if k != "Retry-After"] == list(expected[1])  # and in the same order
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


def _read_only_collaborator(organization, workspace) -> APIClient:
    """A client with the key of a member granted only Read-only collaborator on `workspace` (an Enterprise
    organization, where that role exists)."""
    organization.tier = Tier.ENTERPRISE
    organization.save(update_fields=["tier"])
    user = UserFactory()
    membership(organization, user, "member")
    grant(workspace, role=catalog.READ_ONLY_COLLABORATOR, user=user)
    _, secret = api_key_create(owner=user, name="k", expires_at=None)
    reader = APIClient()
    reader.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return reader


def test_missing_permission_and_rate_limit_answer_the_same(workspace, organization, running, compare):
    reader = _read_only_collaborator(organization, workspace)
    b = base(workspace)
    assert compare(lambda i: _post(reader, b + "task_runs/", _task_body(running["id"], "r")), lean=True)[0] == 403
    key = bucket_key("api", "org", organization.pk)
    get_limiter().consume(key, limit=10**6, period=60, cost=3 * 10**6, debt=True)  # empty for minutes
    get_leased_limiter().reset()  # this process's lease of that bucket (docs/ratelimit.md, "Leases")
    status, headers, _ = compare(lambda i: _post(reader, b + "logs/", []), lean=True)
    assert status == 429 and int(headers["Retry-After"]) > 60


def _lean_requests(c, workspace, run_id) -> list:
    """Senders (by attempt 0, 1) of a request of each route: a task run's create, set_state and read, a log
    batch, a flow run's create, set_state and read, the flow run filter."""
    b = base(workspace)
    tag = uuid.uuid4().hex[:6]
    tasks = [create_task_run(c, workspace, run_id, dynamic_key=f"{tag}-{i}")["id"] for i in range(2)]
    flow_id = create_flow(c, workspace)["id"]
    runs = [create_flow_run(c, workspace, flow_id, name=f"flow-{i}")["id"] for i in range(2)]
    logs = [{"name": "x", "level": 20, "message": "m", "timestamp": "2024-01-01T00:00:00+00:00",
             "flow_run_id": run_id, "task_run_id": None}]
    return [lambda i: _post(c, b + "task_runs/", _task_body(run_id, f"{tag}-new-{i}")),
            lambda i: _post(c, b + f"task_runs/{tasks[i]}/set_state", {"state": state("RUNNING"), "force": False}),
            lambda i: c.get(b + f"task_runs/{tasks[0]}"),
            lambda i: _post(c, b + "logs/", logs),
            lambda i: _post(c, b + "flow_runs/", _flow_body(flow_id, f"flow-{i}")),
            lambda i: _post(c, b + f"flow_runs/{runs[i]}/set_state", {"state": state("RUNNING"), "force": False}),
            lambda i: c.get(b + f"flow_runs/{run_id}"),
            lambda i: _post(c, b + "flow_runs/filter", {"flow_runs": {"id": {"any_": [run_id]}}}),
            lambda i: _post(c, b + "flows/", {"name": f"flow-{int(tag, 16)}{i}", "tags": []})]


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


SOME_UUID = "0a8b8f8e-64f7-4d6c-9bd1-5d7c1f0e2a3b"


@pytest.mark.parametrize("ids", [("a", "w", "r"), ("filter", "count", "filter"), ("x y", "%41", "set_state")])
def test_the_route_matcher_finds_what_the_resolver_finds(ids):
    from django.urls import resolve

    from apps.core.lean_middleware import _PATH, route_kwargs

    account, ws, run = ids
    prefix = f"/api/accounts/{account}/workspaces/{ws}/"
    for method, path in [("POST", prefix + "task_runs/"), ("POST", prefix + f"task_runs/{run}/set_state"),
                         ("POST", prefix + "logs/"), ("POST", prefix + "flow_runs/"),
                         ("POST", prefix + "flow_runs/filter"), ("POST", prefix + f"flow_runs/{run}/set_state"),
                         ("GET", prefix + f"task_runs/{SOME_UUID}"), ("GET", prefix + f"flow_runs/{SOME_UUID}"),
                         ("GET", prefix + f"flow_runs/{SOME_UUID.upper()}"), ("POST", prefix + "flows/")]:
        found, match = resolve(path), _PATH.match(path)
        assert match is not None and found.func.lean_method == method, path
        assert found.kwargs == route_kwargs(match)[1], path
    for path in (prefix + "task_runs", prefix + "task_runs/r/set_state/", prefix + "task_runs/a/b/set_state",
                 prefix + "logs", prefix + "task_runs/filter", prefix + "task_runs/count", prefix + "flow_runs",
                 prefix + "flow_runs/count", prefix + "flow_runs/history", prefix + "flow_runs/filter/",
                 prefix + f"flow_runs/{run}x", prefix + f"flow_runs/{SOME_UUID}/", prefix + f"task_runs/{SOME_UUID}x",
                 prefix + f"flow_runs/{SOME_UUID.replace('-', '')}", prefix + f"flow_runs/{SOME_UUID}/decisions",
                 f"/api/accounts/{account}/task_runs/", f"/api/accounts/{account}/flow_runs/{SOME_UUID}",
                 prefix + "flows", prefix + "flows/filter", prefix + "flows/count", prefix + f"flows/{SOME_UUID}",
                 prefix + "flows/name/x", prefix + "flows//"):
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


# --- flow runs and reads (the lean route's second set) ----------------------------------------------------
def _flow_body(flow_id, name: str, **extra) -> dict:
    return {"flow_id": flow_id, "name": name, "state": state("PENDING", "Pending"), "parameters": {"n": 1},
            "context": {}, "tags": [], "idempotency_key": None, "parent_task_run_id": None, "deployment_id": None,
            "empirical_policy": {"max_retries": 0, "retry_delay_seconds": 0, "retries": 0, "retry_delay": 0,
                                 "pause_keys": [], "resuming": False, "retry_type": None}, **extra}


def test_flow_run_create_set_state_filter_and_reads_answer_the_same(authed_client, workspace, running, compare):
    c, b, run_id = authed_client, base(workspace), running["id"]
    flow_id = running["flow_id"]
    assert compare(lambda i: _post(c, b + "flow_runs/", _flow_body(flow_id, f"flow-{i}")), lean=True)[0] == 201
    _post(c, b + "flow_runs/", _flow_body(flow_id, "flow-7", idempotency_key="same"))
    assert compare(lambda i: _post(c, b + "flow_runs/", _flow_body(flow_id, "flow-7", idempotency_key="same")),
                   lean=True)[0] == 200  # the existing one
    assert compare(lambda i: _post(c, b + "flow_runs/", {"flow_id": flow_id, "name": f"flow-{i}"}),
                   lean=True)[0] == 201  # the least a body may say
    runs = [create_flow_run(c, workspace, flow_id, name=f"flow-{i}")["id"] for i in range(2)]
    for type_, expected in (("RUNNING", 201), ("COMPLETED", 201), ("PENDING", 201)):  # without a result: allowed
        got = compare(lambda i, t=type_: _post(c, b + f"flow_runs/{runs[i]}/set_state",
                                               {"state": state(t), "force": False},
                                               HTTP_X_PREFECT_API_VERSION="0.8.4"), lean=True)
        assert got[0] == expected, got
    for body in ({}, {"flow_runs": {"id": {"any_": [run_id, *runs]}}}, {"limit": 1, "sort": "START_TIME_DESC"},
                 {"flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}, "offset": 1}, {"limit": None}):
        assert compare(lambda i, body=body: _post(c, b + "flow_runs/filter", body), lean=True)[0] == 200
    task = create_task_run(c, workspace, run_id)["id"]
    for path in (f"task_runs/{task}", f"flow_runs/{run_id}", f"flow_runs/{runs[0]}", f"task_runs/{task.upper()}"):
        assert compare(lambda i, p=path: c.get(b + p), lean=True)[0] == 200
    # Other spellings of an id take the chain; the view's lean dispatch still answers them.
    for path in (f"task_runs/{task.replace('-', '')}", f"flow_runs/urn:uuid:{run_id}"):
        assert compare(lambda i, p=path: c.get(b + p), lean=True, route=False)[0] == 200
    # Accept variants and conditional requests: JSON (or any) is the lean case; no middleware answers a
    # condition (no ETag, no Last-Modified), so both answer 200 alike.
    for extra in ({"HTTP_ACCEPT": "application/json"}, {"HTTP_ACCEPT": "*/*"}, {"HTTP_IF_NONE_MATCH": '"x"'},
                  {"HTTP_IF_MODIFIED_SINCE": "Wed, 21 Oct 2099 07:28:00 GMT"}, {"HTTP_ACCEPT_ENCODING": "gzip"}):
        assert compare(lambda i, extra=extra: c.get(b + f"flow_runs/{run_id}", **extra), lean=True)[0] == 200


def test_flow_run_and_read_errors_answer_the_same(authed_client, workspace, organization, running, compare):
    c, b, run_id = authed_client, base(workspace), running["id"]
    flow_id = running["flow_id"]
    other = WorkspaceFactory(organization=organization)
    foreign_flow = create_flow(c, other)["id"]
    foreign_run = create_flow_run(c, other, foreign_flow)["id"]
    foreign_task = create_task_run(c, other, foreign_run)["id"]
    stranger = base(WorkspaceFactory(organization=OrganizationFactory()))
    for path, body, expected in [
        ("flow_runs/", {"name": "flow-1"}, 422),  # flow_id missing
        ("flow_runs/", _flow_body(foreign_flow, "flow-2"), 404),  # another workspace's flow
        ("flow_runs/", _flow_body(str(uuid.uuid4()), "flow-3"), 404),
        ("flow_runs/", {**_flow_body(flow_id, "flow-4"), "surplus": 1}, 422),
        ("flow_runs/", _flow_body(flow_id, "a/b"), 422),
        ("flow_runs/", _flow_body(flow_id, "flow-5", parent_task_run_id=foreign_task), 404),
        ("flow_runs/", _flow_body(flow_id, "flow-6", empirical_policy={"retries": -1}), 422),
        ("flow_runs/", [], 422),
        (f"flow_runs/{foreign_run}/set_state", {"state": state("RUNNING")}, 404),
        (f"flow_runs/{uuid.uuid4()}/set_state", {"state": state("RUNNING")}, 404),
        (f"flow_runs/{run_id}/set_state", {"state": {"type": "BOGUS"}}, 422),
        ("flow_runs/not-a-uuid/set_state", {"state": state("RUNNING")}, 422),
        ("flow_runs/filter", {"limit": -1}, 422),
        ("flow_runs/filter", {"flow_runs": {"id": {"any_": ["bad"]}}}, 422),
        ("flow_runs/filter", {"sort": "BOGUS"}, 422),
    ]:
        got = compare(lambda i, p=path, body=body: _post(c, b + p, body), lean=True)[0]
        assert got == expected, (path, body, got)
    for path in (f"flow_runs/{foreign_run}", f"task_runs/{foreign_task}", f"flow_runs/{uuid.uuid4()}",
                 f"task_runs/{uuid.uuid4()}"):
        assert compare(lambda i, p=path: c.get(b + p), lean=True)[0] == 404  # across workspaces: not found
    for path in (f"flow_runs/{run_id}", f"task_runs/{foreign_task}"):
        assert compare(lambda i, p=path: c.get(stranger + p), lean=True)[0] == 404
    for path in ("flow_runs/not-a-uuid", "task_runs/42", "flow_runs/%20"):
        # A malformed id: the chain and the view's lean dispatch, Prefect's 422.
        assert compare(lambda i, p=path: c.get(b + p), lean=True, route=False)[0] == 422
    assert compare(lambda i: _post(c, stranger + "flow_runs/", _flow_body(flow_id, "flow-8")), lean=True)[0] == 404


def test_flow_run_and_read_requests_dispatched_by_drf_answer_the_same(authed_client, workspace, running, compare):
    c, b, run_id = authed_client, base(workspace), running["id"]
    flow_id, read = running["flow_id"], b + f"flow_runs/{run_id}"
    body = _flow_body(flow_id, "flow-1")
    compare(lambda i: _post(c, b + "flow_runs/", b"{not json"), lean=False)  # 400
    compare(lambda i: _post(c, b + "flow_runs/filter", b""), lean=False)  # DRF's empty body
    compare(lambda i: _post(c, b + "flow_runs/", body, content_type="text/plain"), lean=False)  # 415
    compare(lambda i: _post(c, b + f"flow_runs/{run_id}/set_state", b"[1,"), lean=False)  # 400
    compare(lambda i: _post(c, b + "flow_runs/filter", {}, HTTP_ACCEPT="text/html"), lean=False)  # 406
    assert compare(lambda i: c.get(read, HTTP_ACCEPT="text/html"), lean=False)[0] == 406
    assert compare(lambda i: c.get(read, HTTP_ACCEPT="application/xml"), lean=False)[0] == 406
    assert compare(lambda i: c.get(read + "?format=json"), lean=False)[0] == 200
    assert compare(lambda i: c.get(read + "?format=xml"), lean=False)[0] == 404  # DRF: no such renderer
    assert compare(lambda i: c.get(read + "?x=1"), lean=False)[0] == 200
    assert compare(lambda i: c.head(read), lean=False)[0] == 200
    assert compare(lambda i: c.options(read), lean=False)[0] == 200
    assert compare(lambda i: c.options(b + "flow_runs/"), lean=False)[0] == 403  # no permission declared for it
    # Methods a route does not serve (403 where the view declares no permission for it, else 405), and the
    # detail view's PATCH: DRF's dispatch, on both paths.
    compare(lambda i: c.get(b + "flow_runs/"), lean=False)
    compare(lambda i: c.get(b + "flow_runs/filter"), lean=False)
    compare(lambda i: c.get(b + f"flow_runs/{run_id}/set_state"), lean=False)
    compare(lambda i: _post(c, read, {}), lean=False)
    compare(lambda i: c.put(read, {}, format="json"), lean=False)
    assert compare(lambda i: c.patch(read, {"name": f"flow-{i}"}, format="json"), lean=False)[0] == 204
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Bearer pnu_" + "x" * 36)
    assert compare(lambda i: bad.get(read), lean=False)[0] == 401
    assert compare(lambda i: _post(bad, b + "flow_runs/", body), lean=False)[0] == 401
    assert compare(lambda i: APIClient().get(b + f"task_runs/{SOME_UUID}"), lean=False)[0] == 401  # no key


def test_flow_run_permissions_read_only_and_rate_limit_answer_the_same(workspace, organization, running,
                                                                       authed_client, compare):
    from apps.core import authcache

    reader = _read_only_collaborator(organization, workspace)
    b, run_id, flow_id = base(workspace), running["id"], running["flow_id"]
    assert compare(lambda i: _post(reader, b + "flow_runs/", _flow_body(flow_id, f"flow-{i}")), lean=True)[0] == 403
    for type_ in ("RUNNING", "CANCELLING"):  # missing flow_runs:write, then flow_runs:cancel
        assert compare(lambda i, t=type_: _post(reader, b + f"flow_runs/{run_id}/set_state", {"state": state(t)}),
                       lean=True)[0] == 403
    assert compare(lambda i: reader.get(b + f"flow_runs/{run_id}"), lean=True)[0] == 200
    assert compare(lambda i: _post(reader, b + "flow_runs/filter", {}), lean=True)[0] == 200

    # A read-only workspace: a new run is refused (402), a subflow of a run under way, states and reads are not.
    workspace.read_only = True
    workspace.save(update_fields=["read_only"])
    authcache.clear()
    c = authed_client
    assert compare(lambda i: _post(c, b + "flow_runs/", _flow_body(flow_id, f"flow-{i}")), lean=True)[0] == 402
    parent = create_task_run(c, workspace, run_id)["id"]
    assert compare(lambda i: _post(c, b + "flow_runs/", _flow_body(flow_id, f"flow-{i}", parent_task_run_id=parent)),
                   lean=True)[0] == 201
    runs = [create_flow_run(c, workspace, flow_id, name=f"flow-{i}", parent_task_run_id=parent)["id"]
            for i in range(2)]
    assert compare(lambda i: _post(c, b + f"flow_runs/{runs[i]}/set_state", {"state": state("RUNNING")}),
                   lean=True)[0] == 201
    assert compare(lambda i: c.get(b + f"task_runs/{parent}"), lean=True)[0] == 200

    key = bucket_key("api", "org", organization.pk)
    get_limiter().consume(key, limit=10**6, period=60, cost=3 * 10**6, debt=True)  # empty for minutes
    get_leased_limiter().reset()
    for send in (lambda i: reader.get(b + f"flow_runs/{run_id}"), lambda i: _post(reader, b + "flow_runs/filter", {}),
                 lambda i: _post(c, b + "flow_runs/", _flow_body(flow_id, f"flow-{i}"))):
        status, headers, _ = compare(send, lean=True)
        assert status == 429 and int(headers["Retry-After"]) > 60


def test_reads_pass_the_security_and_host_checks_alike(workspace, running, user_key, compare, settings):
    def client() -> APIClient:
        fresh = APIClient()
        fresh.credentials(HTTP_AUTHORIZATION=f"Bearer {user_key}")
        return fresh

    read = base(workspace) + f"flow_runs/{running['id']}"
    settings.SECURE_SSL_REDIRECT, settings.SECURE_HSTS_SECONDS = True, 3600
    c = client()
    assert compare(lambda i: c.get(read), lean=True, answered_before_the_view=True)[0] == 301
    status, headers, _ = compare(lambda i: c.get(read, secure=True), lean=True)
    assert status == 200 and headers["Strict-Transport-Security"] == "max-age=3600"
    settings.SECURE_SSL_REDIRECT = False
    settings.ALLOWED_HOSTS = ["example.com"]
    c = client()
    assert compare(lambda i: c.get(read), lean=True, answered_before_the_view=True)[0] == 400
    settings.ALLOWED_HOSTS = ["*"]
    settings.DISALLOWED_USER_AGENTS = [re.compile("bad-bot")]
    c = client()
    assert compare(lambda i: c.get(read, HTTP_USER_AGENT="a bad-bot"), lean=True,
                   answered_before_the_view=True)[0] == 403


# --- POST flows/: the client's create-or-read of its flow before every flow run -----------------------------
def test_flow_create_and_read_by_name_answer_the_same(authed_client, workspace, organization, compare):
    c, b = authed_client, base(workspace)
    assert compare(lambda i: _post(c, b + "flows/", {"name": f"flow-{i}", "tags": ["a"]}), lean=True)[0] == 201
    _post(c, b + "flows/", {"name": "same", "tags": ["first"]})
    for body in ({"name": "same", "tags": ["other"]}, {"name": "same"}):  # the existing one, its tags unchanged
        got = compare(lambda i, body=body: _post(c, b + "flows/", body), lean=True)
        assert got[0] == 200 and '"first"' in got[2], got
    other = WorkspaceFactory(organization=organization)
    for i in range(2):  # another workspace's flows of those names: a flow is created here, never theirs read
        _post(c, base(other) + "flows/", {"name": f"flow-9{i}", "tags": ["x"]})
    got = compare(lambda i: _post(c, b + "flows/", {"name": f"flow-9{i}", "tags": []}), lean=True)
    assert got[0] == 201 and '"x"' not in got[2], got
    for body, expected in [({}, 422), ({"name": None}, 422), ({"name": "a/b"}, 422), ({"name": "n" * 256}, 422),
                           ({"name": "f", "surplus": 1}, 422), ({"name": "f", "tags": "a"}, 422), ([], 422),
                           ({"name": "nul\u0000"}, 422)]:
        lean = b"\\u0000" not in json.dumps(body).encode()  # a body with the NUL escape: DRF's parser decides
        got = compare(lambda i, body=body: _post(c, b + "flows/", body), lean=lean, route=lean)[0]
        assert got == expected, (body, got)
    stranger = base(WorkspaceFactory(organization=OrganizationFactory()))
    assert compare(lambda i: _post(c, stranger + "flows/", {"name": "f"}), lean=True)[0] == 404


def test_flow_create_requests_dispatched_by_drf_answer_the_same(authed_client, workspace, compare):
    c, b = authed_client, base(workspace)
    compare(lambda i: _post(c, b + "flows/", b"{not json"), lean=False)  # 400
    compare(lambda i: _post(c, b + "flows/", b""), lean=False)
    compare(lambda i: _post(c, b + "flows/", {"name": "f"}, content_type="text/plain"), lean=False)  # 415
    compare(lambda i: _post(c, b + "flows/", {"name": "f"}, HTTP_ACCEPT="text/html"), lean=False)  # 406
    compare(lambda i: c.get(b + "flows/"), lean=False)  # 405
    create_flow(c, workspace, name="f")
    assert compare(lambda i: _post(c, b + "flows/?format=json", {"name": "f"}), lean=False)[0] == 200
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Bearer pnu_" + "x" * 36)
    assert compare(lambda i: _post(bad, b + "flows/", {"name": "f"}), lean=False)[0] == 401


def test_flow_create_permissions_read_only_and_rate_limit_answer_the_same(workspace, organization, authed_client,
                                                                          compare):
    from apps.core import authcache

    c, b = authed_client, base(workspace)
    create_flow(c, workspace, name="known")
    reader = _read_only_collaborator(organization, workspace)
    assert compare(lambda i: _post(reader, b + "flows/", {"name": "known"}), lean=True)[0] == 403
    # A read-only workspace: the client's create-or-read of a flow that exists is allowed, a new name with
    # nothing Running refused (402), and allowed while a run is under way (a subflow's flow).
    workspace.read_only = True
    workspace.save(update_fields=["read_only"])
    authcache.clear()
    assert compare(lambda i: _post(c, b + "flows/", {"name": "known"}), lean=True)[0] == 200
    assert compare(lambda i: _post(c, b + "flows/", {"name": f"flow-7{i}"}), lean=True)[0] == 402
    workspace.read_only = False
    workspace.save(update_fields=["read_only"])
    authcache.clear()
    run = create_flow_run(c, workspace, create_flow(c, workspace, name="parent")["id"])
    set_flow_state(c, workspace, run["id"], "RUNNING")
    workspace.read_only = True
    workspace.save(update_fields=["read_only"])
    authcache.clear()
    assert compare(lambda i: _post(c, b + "flows/", {"name": f"flow-8{i}"}), lean=True)[0] == 201
    key = bucket_key("api", "org", organization.pk)
    get_limiter().consume(key, limit=10**6, period=60, cost=3 * 10**6, debt=True)  # empty for minutes
    get_leased_limiter().reset()
    status, headers, _ = compare(lambda i: _post(c, b + "flows/", {"name": "known"}), lean=True)
    assert status == 429 and int(headers["Retry-After"]) > 60


def test_a_closed_lean_response_leaves_nothing_to_the_garbage_collector(workspace, user_key, running, dispatches,
                                                                       monkeypatch):
    """Served as a WSGI server serves it (Django's WSGIHandler, then close()), a lean request's objects are freed
    by reference counting: none of them is left in a reference cycle for the garbage collector (the rendered
    context held its response, a GET view its own `head`; apps/core/api/lean.py `_release`, run at close() from
    Django's `_resource_closers`)."""
    import gc

    from django.core import signals
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import close_old_connections
    from django.test import RequestFactory

    monkeypatch.setattr(ratelimit_middleware, "_recent_failures", {})
    task = create_task_run(APIClient(HTTP_AUTHORIZATION=f"Bearer {user_key}"), workspace, running["id"])["id"]
    handler, factory = WSGIHandler(), RequestFactory(HTTP_AUTHORIZATION=f"Bearer {user_key}")
    path = base(workspace)

    def serve(request):
        statuses = []
        result = handler(request.environ, lambda status, headers, exc_info=None: statuses.append(status))
        b"".join(result)
        result.close()
        return statuses[0]

    requests = [lambda: factory.get(f"{path}task_runs/{task}"),
                lambda: factory.post(f"{path}task_runs/{task}/set_state", json.dumps({"state": state("RUNNING")}),
                                     content_type="application/json")]
    # As Django's test client does: the test's transaction keeps its connection across the requests.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        assert [serve(make()) for make in requests] == ["200 OK", "201 Created"]  # warm: caches, prepared queries
        gc.collect()
        gc.disable()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            assert [serve(make()) for make in requests] == ["200 OK", "201 Created"]
            gc.collect()
            left = {type(o).__name__ for o in gc.garbage}
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
    assert dispatches == []  # both took the lean route
    assert not left & {"Response", "LeanRequest", "WSGIRequest", "TaskRunDetailView", "TaskRunSetStateView"}, left
