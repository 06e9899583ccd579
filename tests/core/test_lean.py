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
def compare(settings, dispatches):
    def both(send, *, lean: bool):
        settings.PRAETOR_LEAN_VIEWS = False
        expected = _masked(send(0))
        settings.PRAETOR_LEAN_VIEWS = True
        dispatches.clear()
        got = _masked(send(1))
        assert got[:2] == expected[:2]
        assert got[2] == expected[2], [d for d in difflib.ndiff([expected[2]], [got[2]]) if d[0] in "?+-"]
        assert (dispatches == []) is lean, dispatches
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


def test_worker_poll_and_heartbeat_answer_the_same(authed_client, workspace, compare):
    c, b = authed_client, base(workspace)
    assert _post(c, b + "work_pools/", {"name": "lean-pool", "type": "process"}).status_code == 201
    flow = create_flow(c, workspace)
    deployment = _post(c, b + "deployments/", {"name": "d", "flow_id": flow["id"], "work_pool_name": "lean-pool",
                                               "work_queue_name": "default", "parameters": {}, "tags": []}).json()
    for _ in range(2):
        assert _post(c, b + f"deployments/{deployment['id']}/create_flow_run", {}).status_code == 201
    poll = b + "work_pools/lean-pool/get_scheduled_flow_runs"
    got = compare(lambda i: _post(c, poll, {"scheduled_before": "2999-01-01T00:00:00+00:00", "limit": 10}),
                  lean=True)
    assert got[0] == 200 and got[2].count('"flow_run"') == 2
    compare(lambda i: _post(c, poll, {"work_queue_names": ["default"], "limit": 1}), lean=True)
    compare(lambda i: _post(c, poll, {}), lean=True)
    assert compare(lambda i: _post(c, poll, {"work_queue_names": ["nope"]}), lean=True)[0] == 404
    assert compare(lambda i: _post(c, poll, {"limit": -1}), lean=True)[0] == 422
    assert compare(lambda i: _post(c, b + "work_pools/nope/get_scheduled_flow_runs", {}), lean=True)[0] == 404
    beat = b + "work_pools/lean-pool/workers/heartbeat"
    assert compare(lambda i: _post(c, beat, {"name": "w", "heartbeat_interval_seconds": 30}), lean=True)[0] == 204
    assert compare(lambda i: _post(c, beat, {}), lean=True)[0] == 422
    assert compare(lambda i: _post(c, b + "work_pools/nope/workers/heartbeat", {"name": "w"}), lean=True)[0] == 404
    compare(lambda i: _post(c, poll, b"{not json"), lean=False)  # 400, DRF's
