"""Logs: batch create (every message counts against the logs_events bucket), filter with sort and
limit/offset, bad input refused whole, other workspaces' logs invisible."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from apps.billing.services.entitlements import organization_tier_set
from apps.engine.models.runs import Log
from apps.ratelimit.selectors import LOGS_EVENTS, organization_usage
from tests.factories.workspaces import WorkspaceFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def base(ws) -> str:
    return f"/api/accounts/{ws.organization_id}/workspaces/{ws.pk}/"


def log(message="hello", *, level=20, seconds=0, flow_run_id=None, task_run_id=None, name="prefect.flow_runs"):
    stamp = (T0 + timedelta(seconds=seconds)).isoformat()
    body = {"name": name, "level": level, "message": message, "timestamp": stamp}
    if flow_run_id:
        body["flow_run_id"] = str(flow_run_id)
    if task_run_id:
        body["task_run_id"] = str(task_run_id)
    return body


def post_logs(client, ws, logs):
    return client.post(base(ws) + "logs/", logs, format="json")


def logs_remaining(organization) -> int:
    return next(b for b in organization_usage(organization=organization) if b.bucket == LOGS_EVENTS).remaining


def test_batch_is_stored_and_read_back_in_order(authed_client, workspace, organization):
    flow_run, task_run = uuid.uuid4(), uuid.uuid4()
    batch = [log("first", seconds=1, flow_run_id=flow_run),
             log("second", level=40, seconds=2, flow_run_id=flow_run, task_run_id=task_run),
             log("unrelated", seconds=0)]
    before = logs_remaining(organization)
    response = post_logs(authed_client, workspace, batch)
    assert response.status_code == 201
    assert logs_remaining(organization) == before - 3  # one unit per message, not per batch

    read = authed_client.post(base(workspace) + "logs/filter", {}, format="json")
    assert read.status_code == 200
    assert [entry["message"] for entry in read.json()] == ["unrelated", "first", "second"]
    second = read.json()[2]
    assert second["level"] == 40
    assert second["flow_run_id"] == str(flow_run)
    assert second["task_run_id"] == str(task_run)
    assert second["name"] == "prefect.flow_runs"
    assert datetime.fromisoformat(second["timestamp"]) == T0 + timedelta(seconds=2)
    assert set(second) == {"id", "created", "updated", "name", "level", "message", "timestamp", "flow_run_id",
                           "task_run_id"}


def test_filter_by_run_level_and_time_with_sort_and_paging(authed_client, workspace):
    run_a, run_b = uuid.uuid4(), uuid.uuid4()
    post_logs(authed_client, workspace, [log(f"a{i}", seconds=i, level=10 * (i + 1), flow_run_id=run_a)
                                         for i in range(5)])
    post_logs(authed_client, workspace, [log("b0", seconds=3, flow_run_id=run_b)])

    def messages(body):
        response = authed_client.post(base(workspace) + "logs/filter", body, format="json")
        assert response.status_code == 200, response.json()
        return [entry["message"] for entry in response.json()]

    only_a = {"flow_run_id": {"any_": [str(run_a)]}}
    assert messages({"logs": only_a}) == ["a0", "a1", "a2", "a3", "a4"]
    assert messages({"logs": only_a, "sort": "TIMESTAMP_DESC", "limit": 2, "offset": 1}) == ["a3", "a2"]
    assert messages({"logs": {**only_a, "level": {"ge_": 30, "le_": 40}}}) == ["a2", "a3"]
    window = {"after_": (T0 + timedelta(seconds=3)).isoformat(), "before_": (T0 + timedelta(seconds=4)).isoformat()}
    assert messages({"logs": {"timestamp": window}}) == ["a3", "b0", "a4"]
    assert messages({"logs": {"task_run_id": {"any_": [str(uuid.uuid4())]}}}) == []
    # What the client's read_logs() sends by default: top-level nulls mean "the default", as on Prefect.
    assert messages({"logs": None, "limit": None, "offset": None, "sort": None}) == ["a0", "a1", "a2", "a3", "b0",
                                                                                    "a4"]
    # What `prefect flow-run logs` sends: the run's id, TIMESTAMP_ASC, a page of its own size.
    assert messages({"logs": {"flow_run_id": {"any_": [str(run_b)]}}, "sort": "TIMESTAMP_ASC", "limit": 200,
                     "offset": 0}) == ["b0"]


@pytest.mark.parametrize("body", [
    {"name": "x", "level": 20, "message": "m"},  # no timestamp
    {"name": "x", "level": "loud", "message": "m", "timestamp": T0.isoformat()},
    {"name": "x", "level": 20, "message": "m", "timestamp": "yesterday"},
    {"name": "x", "level": 20, "message": "m", "timestamp": T0.isoformat(), "flow_run_id": "not-a-uuid"},
    {"name": "x", "level": 20, "message": "m", "timestamp": T0.isoformat(), "colour": "red"},
    {"name": "x", "level": 20, "message": "m" * 1_000_001, "timestamp": T0.isoformat()},
])
def test_one_bad_log_refuses_the_whole_batch(authed_client, workspace, organization, body):
    before = logs_remaining(organization)
    response = post_logs(authed_client, workspace, [log("good"), body])
    assert response.status_code == 422
    assert response.json()["exception_message"] == "Invalid request received."
    assert response.json()["exception_detail"][0]["loc"][:2] == ["body", 1]
    assert Log.objects.for_workspace(workspace).count() == 0
    assert logs_remaining(organization) == before


@pytest.mark.parametrize("payload", [{"name": "x"}, "text", None])
def test_a_body_that_is_not_a_list_is_422(authed_client, workspace, payload):
    response = authed_client.post(base(workspace) + "logs/", payload, format="json")
    assert response.status_code == 422
    assert Log.objects.for_workspace(workspace).count() == 0


def test_oversize_batch_is_422(authed_client, workspace):
    response = post_logs(authed_client, workspace, [log(str(i)) for i in range(10_001)])
    assert response.status_code == 422
    assert Log.objects.for_workspace(workspace).count() == 0


@pytest.mark.parametrize("body", [{"sort": "LEVEL_DESC"}, {"limit": 201}, {"offset": -1},
                                  {"logs": {"level": {"gt_": 3}}}, {"logs": {"flow_run_id": {"any_": ["x"]}}}])
def test_bad_filter_is_422(authed_client, workspace, body):
    response = authed_client.post(base(workspace) + "logs/filter", body, format="json")
    assert response.status_code == 422
    assert response.json()["exception_message"] == "Invalid request received."


def test_batch_is_taken_while_the_bucket_is_not_empty_then_429_until_the_debt_is_repaid(authed_client, workspace,
                                                                                       organization):
    organization_tier_set(organization=organization, tier="free")  # 500 log messages per minute
    assert post_logs(authed_client, workspace, [log(str(i)) for i in range(400)]).status_code == 201
    # 100 units left: a batch of 200 is still taken (events drawn one by one must not starve batches)
    # and leaves the bucket about 100 in debt ...
    assert post_logs(authed_client, workspace, [log(str(i)) for i in range(200)]).status_code == 201
    # ... which the next batch must wait out: refused whole, told how long (~12 s at 0.12 s per unit).
    refused = post_logs(authed_client, workspace, [log("late"), log("later")])
    assert refused.status_code == 429
    assert 11 <= int(refused["Retry-After"]) <= 13
    assert refused.json()["code"] == "rate_limited"
    assert "500 log messages and events per minute" in refused.json()["detail"]
    assert Log.objects.for_workspace(workspace).count() == 600


def test_other_workspaces_logs_are_invisible(authed_client, workspace, organization):
    other = WorkspaceFactory(organization=organization)
    run = uuid.uuid4()
    assert post_logs(authed_client, other, [log("elsewhere", flow_run_id=run)]).status_code == 201
    read = authed_client.post(base(workspace) + "logs/filter", {"logs": {"flow_run_id": {"any_": [str(run)]}}},
                              format="json")
    assert read.json() == []


def test_a_stranger_gets_404_and_writes_nothing(api_client, workspace):
    from apps.identity.services import api_key_create
    from tests.factories.identity import UserFactory

    _, stranger_key = api_key_create(owner=UserFactory(), name="s", expires_at=None)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {stranger_key}")
    assert post_logs(api_client, workspace, [log()]).status_code == 404
    assert api_client.post(base(workspace) + "logs/filter", {}, format="json").status_code == 404
    assert Log.objects.for_workspace(workspace).count() == 0


def test_create_and_filter_query_counts(authed_client, workspace, django_assert_num_queries):
    batch = [log(str(i), seconds=i) for i in range(50)]
    post_logs(authed_client, workspace, batch[:1])  # warm the per-organization limit memo
    # key, workspace, access from the auth cache; one COPY for the whole batch, its own transaction (no savepoint)
    with django_assert_num_queries(1) as captured:
        assert post_logs(authed_client, workspace, batch).status_code == 201
    assert captured.captured_queries[0]["sql"].startswith('COPY "engine_log" (')
    with django_assert_num_queries(1):
        assert len(authed_client.post(base(workspace) + "logs/filter", {}, format="json").json()) == 51
