"""Work pools, their queues (priorities, pause, concurrency), workers (heartbeat, status), agent-era work queues
and the two polls (`work_queues/{id}/get_runs`, `work_pools/{name}/get_scheduled_flow_runs`)."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from apps.access import catalog
from apps.engine.models import Deployment, Flow, FlowRun, StateType, Worker, WorkPool, WorkQueue
from apps.engine.services.deployments import NewRun, flow_runs_insert_scheduled
from apps.identity.services import api_key_create
from apps.organizations.models import Tier
from tests.factories.access import grant
from tests.factories.identity import UserFactory
from tests.factories.organizations import membership
from tests.factories.workspaces import WorkspaceFactory

pytestmark = pytest.mark.django_db


def base(ws) -> str:
    return f"/api/accounts/{ws.organization_id}/workspaces/{ws.pk}/"


def create_pool(client, ws, name="mypool", **fields):
    return client.post(base(ws) + "work_pools/", {"name": name, "type": "process", **fields}, format="json")


def queue_of(ws, pool_name, name) -> WorkQueue:
    return WorkQueue.objects.for_workspace(ws).get(work_pool__name=pool_name, name=name)


def add_runs(ws, queue: WorkQueue, times, state=StateType.SCHEDULED) -> list:
    flow, _ = Flow.objects.for_workspace(ws).get_or_create(workspace=ws, name="f")
    dep, _ = Deployment.objects.for_workspace(ws).get_or_create(
        workspace=ws, flow=flow, name=f"d-{queue.name}", defaults={"work_queue": queue, "work_queue_name": queue.name})
    ids = flow_runs_insert_scheduled(workspace=ws, deployment=dep, runs=[
        NewRun(scheduled_time=t, idempotency_key=None, parameters={}, tags=[], auto_scheduled=False,
               work_queue_id=queue.pk, work_queue_name=queue.name) for t in times])
    if state != StateType.SCHEDULED:
        FlowRun.objects.for_workspace(ws).filter(pk__in=ids).update(state_type=state)
    return [str(i) for i in ids]


def ago(seconds):
    return timezone.now() - datetime.timedelta(seconds=seconds)


def test_create_pool_makes_default_queue_and_reads_by_name(authed_client, workspace):
    response = create_pool(authed_client, workspace, base_job_template={"job_configuration": {}, "variables": {}})
    assert response.status_code == 201
    body = response.json()
    assert (body["name"], body["type"], body["status"], body["is_paused"]) == ("mypool", "process", "NOT_READY", False)
    default = queue_of(workspace, "mypool", "default")
    assert body["default_queue_id"] == str(default.pk) and default.priority == 1
    assert authed_client.get(base(workspace) + "work_pools/mypool").json()["id"] == body["id"]
    assert create_pool(authed_client, workspace).status_code == 409
    assert create_pool(authed_client, workspace, name="prefect-x").status_code == 403
    assert create_pool(authed_client, workspace, name="bad", base_job_template={"x": 1}).status_code == 422
    assert WorkPool.objects.for_workspace(workspace).count() == 1


def test_filter_count_update_delete_pool(authed_client, workspace):
    create_pool(authed_client, workspace, name="a")
    create_pool(authed_client, workspace, name="b", type="docker")
    url = base(workspace) + "work_pools/"
    assert [p["name"] for p in authed_client.post(url + "filter", {}, format="json").json()] == ["a", "b"]
    assert authed_client.post(url + "count", {"work_pools": {"type": {"any_": ["docker"]}}},
                              format="json").json() == 1
    assert authed_client.patch(url + "a", {"is_paused": True, "concurrency_limit": 2},
                               format="json").status_code == 204
    got = authed_client.get(url + "a").json()
    assert (got["is_paused"], got["concurrency_limit"], got["status"]) == (True, 2, "PAUSED")
    assert authed_client.delete(url + "a").status_code == 204
    assert authed_client.get(url + "a").status_code == 404
    assert WorkQueue.objects.for_workspace(workspace).filter(work_pool__name="a").count() == 0


def test_queue_priorities_stay_dense_when_inserting_moving_and_deleting(authed_client, workspace):
    create_pool(authed_client, workspace)
    url = base(workspace) + "work_pools/mypool/queues"
    for name in ("b", "c"):
        assert authed_client.post(url, {"name": name}, format="json").status_code == 201
    assert authed_client.post(url, {"name": "urgent", "priority": 1}, format="json").json()["priority"] == 1

    def order():
        return [(q["name"], q["priority"]) for q in authed_client.post(url + "/filter", {}, format="json").json()]

    assert order() == [("urgent", 1), ("default", 2), ("b", 3), ("c", 4)]
    assert authed_client.patch(url + "/c", {"priority": 2}, format="json").status_code == 204
    assert order() == [("urgent", 1), ("c", 2), ("default", 3), ("b", 4)]
    assert authed_client.delete(url + "/urgent").status_code == 204
    assert order() == [("c", 1), ("default", 2), ("b", 3)]
    assert authed_client.delete(url + "/default").status_code == 409  # a pool's default queue stays
    assert authed_client.post(url, {"name": "b"}, format="json").status_code == 409
    assert authed_client.get(url + "/nope").json()["detail"] == "Work pool queue 'mypool/nope' not found."


def test_worker_heartbeat_upserts_and_reports_online(authed_client, workspace):
    create_pool(authed_client, workspace)
    url = base(workspace) + "work_pools/mypool/workers/"
    for _ in range(2):
        assert authed_client.post(url + "heartbeat", {"name": "w1", "heartbeat_interval_seconds": 10},
                                  format="json").status_code == 204
    assert Worker.objects.for_workspace(workspace).count() == 1
    Worker.objects.for_workspace(workspace).create(workspace=workspace, work_pool=WorkPool.objects.for_workspace(
        workspace).get(), name="old", last_heartbeat_time=ago(3600), heartbeat_interval_seconds=30)
    workers = authed_client.post(url + "filter", {}, format="json").json()
    assert [(w["name"], w["status"]) for w in workers] == [("w1", "ONLINE"), ("old", "OFFLINE")]
    online = authed_client.post(url + "filter", {"workers": {"status": {"any_": ["ONLINE"]}}}, format="json").json()
    assert [w["name"] for w in online] == ["w1"]
    assert authed_client.get(base(workspace) + "work_pools/mypool").json()["status"] == "READY"
    assert authed_client.delete(url + "old").status_code == 204
    assert authed_client.post(base(workspace) + "work_pools/nope/workers/heartbeat", {"name": "w"},
                              format="json").status_code == 404


def test_pool_poll_orders_by_priority_then_time_and_marks_polled(authed_client, workspace):
    create_pool(authed_client, workspace)
    authed_client.post(base(workspace) + "work_pools/mypool/queues", {"name": "urgent", "priority": 1}, format="json")
    default, urgent = queue_of(workspace, "mypool", "default"), queue_of(workspace, "mypool", "urgent")
    d_ids = add_runs(workspace, default, [ago(30), ago(20)])
    u_ids = add_runs(workspace, urgent, [ago(10)])
    future = add_runs(workspace, default, [timezone.now() + datetime.timedelta(hours=1)])
    url = base(workspace) + "work_pools/mypool/get_scheduled_flow_runs"
    got = authed_client.post(url, {"scheduled_before": timezone.now().isoformat()}, format="json").json()
    assert [r["flow_run"]["id"] for r in got] == [*u_ids, *d_ids]
    assert got[0]["work_queue_id"] == str(urgent.pk) and got[0]["flow_run"]["work_pool_name"] == "mypool"
    assert len(authed_client.post(url, {}, format="json").json()) == 4
    only_default = authed_client.post(url, {"work_queue_names": ["default"], "limit": 1}, format="json").json()
    assert [r["flow_run"]["id"] for r in only_default] == d_ids[:1]
    assert future[0] not in [r["flow_run"]["id"] for r in only_default]
    assert queue_of(workspace, "mypool", "urgent").last_polled is not None
    assert WorkPool.objects.for_workspace(workspace).get().last_polled is not None
    assert authed_client.get(base(workspace) + "work_pools/mypool/queues/default").json()["status"] == "READY"
    assert Deployment.objects.for_workspace(workspace).filter(last_polled__isnull=False).count() == 2


def test_pool_poll_respects_pause_and_concurrency_limits(authed_client, workspace):
    create_pool(authed_client, workspace)
    default = queue_of(workspace, "mypool", "default")
    add_runs(workspace, default, [ago(30), ago(20), ago(10)])
    url = base(workspace) + "work_pools/mypool/get_scheduled_flow_runs"
    pool_url = base(workspace) + "work_pools/mypool"
    authed_client.patch(pool_url + "/queues/default", {"concurrency_limit": 2}, format="json")
    assert len(authed_client.post(url, {}, format="json").json()) == 2
    add_runs(workspace, default, [ago(100)], state=StateType.RUNNING)
    assert len(authed_client.post(url, {}, format="json").json()) == 1
    authed_client.patch(pool_url, {"concurrency_limit": 1}, format="json")
    assert len(authed_client.post(url, {}, format="json").json()) == 0
    authed_client.patch(pool_url, {"concurrency_limit": None}, format="json")
    authed_client.patch(pool_url + "/queues/default", {"is_paused": True}, format="json")
    assert authed_client.post(url, {}, format="json").json() == []
    authed_client.patch(pool_url + "/queues/default", {"is_paused": False, "concurrency_limit": None}, format="json")
    authed_client.patch(pool_url, {"is_paused": True}, format="json")
    assert authed_client.post(url, {}, format="json").json() == []
    authed_client.patch(pool_url, {"is_paused": False}, format="json")
    assert len(authed_client.post(url, {}, format="json").json()) == 3


def test_agent_queue_by_name_is_created_in_the_default_agent_pool(authed_client, workspace):
    got = authed_client.get(base(workspace) + "work_queues/name/default")
    assert got.status_code == 200
    body = got.json()
    assert (body["name"], body["work_pool_name"], body["status"]) == ("default", "default-agent-pool", "NOT_READY")
    assert authed_client.get(base(workspace) + "work_queues/name/default").json()["id"] == body["id"]
    created = authed_client.post(base(workspace) + "work_queues/", {"name": "second"}, format="json")
    assert created.status_code == 201 and created.json()["work_pool_name"] == "default-agent-pool"
    assert authed_client.post(base(workspace) + "work_queues/", {"name": "second"}, format="json").status_code == 409
    names = [q["name"] for q in authed_client.post(base(workspace) + "work_queues/filter", {}, format="json").json()]
    assert names == ["default", "second"]
    qid = body["id"]
    assert authed_client.patch(base(workspace) + f"work_queues/{qid}", {"description": "x"},
                               format="json").status_code == 204
    assert authed_client.get(base(workspace) + f"work_queues/{qid}").json()["description"] == "x"


def test_agent_get_runs_marks_queue_and_deployments_and_status(authed_client, workspace):
    queue_id = authed_client.get(base(workspace) + "work_queues/name/default").json()["id"]
    queue = WorkQueue.objects.for_workspace(workspace).get(pk=queue_id)
    ids = add_runs(workspace, queue, [ago(5), ago(50)])
    url = base(workspace) + f"work_queues/{queue_id}/get_runs"
    got = authed_client.post(url, {"limit": 10, "scheduled_before": timezone.now().isoformat()}, format="json")
    assert [r["id"] for r in got.json()] == [ids[1], ids[0]]
    assert got.json()[0]["state"]["type"] == "SCHEDULED"
    status = authed_client.get(base(workspace) + f"work_queues/{queue_id}/status").json()
    assert status["healthy"] is True and status["late_runs_count"] == 0
    assert Deployment.objects.for_workspace(workspace).get().last_polled is not None
    pool = authed_client.get(base(workspace) + "work_pools/default-agent-pool").json()
    assert pool["status"] == "READY"


def test_ui_peek_is_not_a_poll(authed_client, workspace):
    queue_id = authed_client.get(base(workspace) + "work_queues/name/default").json()["id"]
    authed_client.post(base(workspace) + f"work_queues/{queue_id}/get_runs", {}, format="json",
                       HTTP_X_PREFECT_UI="true")
    assert WorkQueue.objects.for_workspace(workspace).get(pk=queue_id).last_polled is None


def test_polls_use_a_constant_number_of_queries(authed_client, workspace, django_assert_max_num_queries):
    create_pool(authed_client, workspace)
    for name in ("q1", "q2", "q3"):
        authed_client.post(base(workspace) + "work_pools/mypool/queues", {"name": name}, format="json")
    for name in ("default", "q1", "q2", "q3"):
        add_runs(workspace, queue_of(workspace, "mypool", name), [ago(i) for i in range(1, 6)])
    url = base(workspace) + "work_pools/mypool/get_scheduled_flow_runs"
    authed_client.post(url, {}, format="json")  # warm the per-organization caches of the request path
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def count(call):
        with CaptureQueriesContext(connection) as ctx:
            response = call()
        return len(ctx.captured_queries), response

    few, response = count(lambda: authed_client.post(url, {"limit": 2}, format="json"))
    many, response = count(lambda: authed_client.post(url, {"limit": 200}, format="json"))
    assert len(response.json()) == 20
    assert few == many  # no query per run or per queue
    with django_assert_max_num_queries(6):  # key, workspace, access; queues+pool; runs (marks are fresh)
        authed_client.post(url, {}, format="json")
    queue_id = str(queue_of(workspace, "mypool", "q1").pk)
    get_runs = base(workspace) + f"work_queues/{queue_id}/get_runs"
    few, _ = count(lambda: authed_client.post(get_runs, {"limit": 1}, format="json"))
    many, response = count(lambda: authed_client.post(get_runs, {"limit": 200}, format="json"))
    assert len(response.json()) == 5 and few == many
    with django_assert_max_num_queries(6):
        authed_client.post(get_runs, {}, format="json")


def _client_with_role(api_client, workspace, role):
    workspace.organization.tier = Tier.ENTERPRISE  # roles (and the Worker template) are granted as such
    workspace.organization.save(update_fields=["tier"])
    user = UserFactory()
    membership(workspace.organization, user)
    grant(workspace, role=role, user=user)
    _, secret = api_key_create(owner=user, name="k", expires_at=None)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return api_client


def test_read_only_cannot_create_pools_or_poll(api_client, workspace):
    client = _client_with_role(api_client, workspace, catalog.READ_ONLY_COLLABORATOR)
    assert create_pool(client, workspace).status_code == 403
    assert WorkPool.objects.for_workspace(workspace).count() == 0
    # reading an agent's queue by name does not create it for a caller that may not poll
    assert client.get(base(workspace) + "work_queues/name/default").status_code == 404
    assert WorkQueue.objects.for_workspace(workspace).count() == 0


def test_other_workspace_pools_and_queues_are_404(authed_client, workspace, organization):
    other = WorkspaceFactory(organization=organization)
    create_pool(authed_client, other)
    qid = str(queue_of(other, "mypool", "default").pk)
    assert authed_client.get(base(workspace) + "work_pools/mypool").status_code == 404
    assert authed_client.post(base(workspace) + "work_pools/mypool/get_scheduled_flow_runs", {},
                              format="json").status_code == 404
    assert authed_client.patch(base(workspace) + f"work_queues/{qid}", {"is_paused": True},
                               format="json").status_code == 404
    assert authed_client.post(base(workspace) + f"work_queues/{qid}/get_runs", {}, format="json").status_code == 404
    assert authed_client.delete(base(workspace) + "work_pools/mypool").status_code == 404
    assert queue_of(other, "mypool", "default").is_paused is False


def test_worker_role_polls_and_heartbeats_but_cannot_manage(api_client, workspace):
    client = _client_with_role(api_client, workspace, catalog.WORKER)
    queue = client.get(base(workspace) + "work_queues/name/default")
    assert queue.status_code == 200  # created for a poller, as the agent would next
    assert client.post(base(workspace) + f"work_queues/{queue.json()['id']}/get_runs", {},
                       format="json").status_code == 200
    assert client.post(base(workspace) + "work_pools/default-agent-pool/workers/heartbeat", {"name": "w"},
                       format="json").status_code == 204
    assert client.post(base(workspace) + "work_queues/", {"name": "x"}, format="json").status_code == 403
    assert client.delete(base(workspace) + "work_pools/default-agent-pool/queues/default").status_code == 403
    assert WorkQueue.objects.for_workspace(workspace).count() == 1


def test_filters_accept_the_clients_null_offset_and_limit(authed_client, workspace):
    """`flow.deploy()` reads a pool's queues with `{"work_queues": …, "offset": null, "limit": null}`."""
    create_pool(authed_client, workspace)
    body = {"work_queues": {"name": {"any_": ["default"]}}, "offset": None, "limit": None}
    got = authed_client.post(base(workspace) + "work_pools/mypool/queues/filter", body, format="json")
    assert [q["name"] for q in got.json()] == ["default"]
    for path in ("work_pools/filter", "work_queues/filter", "deployments/filter", "work_pools/mypool/workers/filter"):
        assert authed_client.post(base(workspace) + path, {"offset": None, "limit": None},
                                  format="json").status_code == 200, path


def _orm_poll_runs(ws, queue_ids, limit, before=None, after=None) -> list:
    from apps.engine.selectors.work_pools import _poll_runs

    return sorted(_poll_runs(ws.pk, limit, queue_ids, before, after), key=lambda r: (r.next_scheduled_start_time, r.pk))


@pytest.mark.parametrize("bounds", ["none", "before", "both"])
def test_the_compiled_poll_read_gives_what_its_queryset_gives_and_stays_in_its_workspace(
        authed_client, workspace, organization, bounds):
    from apps.engine.selectors.work_pools import _poll_runs_prepared

    create_pool(authed_client, workspace)
    authed_client.post(base(workspace) + "work_pools/mypool/queues", {"name": "q1"}, format="json")
    queues = [queue_of(workspace, "mypool", n) for n in ("default", "q1")]
    for queue in queues:
        add_runs(workspace, queue, [ago(i) for i in range(1, 5)] + [timezone.now() + datetime.timedelta(hours=1)])
    ids = [q.pk for q in queues]
    before = timezone.now() if bounds != "none" else None
    after = ago(3) - datetime.timedelta(seconds=1) if bounds == "both" else None
    query = _poll_runs_prepared(2, before is not None, after is not None)
    values = [t for t in (before, after) if t is not None]
    for _ in range(2):  # compiled on the first call, reused on the second
        got = sorted(query.all(workspace.pk, 3, *ids, *values), key=lambda r: (r.next_scheduled_start_time, r.pk))
        expected = _orm_poll_runs(workspace, ids, 3, before, after)
        assert [(r.pk, r.work_queue_id, r.state.pk, r.state.type) for r in got] == [
            (r.pk, r.work_queue_id, r.state.pk, r.state.type) for r in expected]
        assert len(got) == 6  # 3 of each queue
    other = WorkspaceFactory(organization=organization)
    assert query.all(other.pk, 3, *ids, *values) == []


def test_the_compiled_queue_and_pool_reads_of_a_poll_match_their_querysets(authed_client, workspace, organization):
    from apps.engine.selectors.work_pools import work_pool_id_get, work_queue_list, work_queues_for_poll

    create_pool(authed_client, workspace)
    authed_client.post(base(workspace) + "work_pools/mypool/queues", {"name": "q1", "priority": 5}, format="json")
    expected = list(work_queue_list(workspace=workspace, pool_name="mypool"))
    for _ in range(2):
        got = work_queues_for_poll(workspace=workspace, pool_name="mypool")
        assert [(q.pk, q.name, q.priority, q.work_pool.pk, q.work_pool.name) for q in got] == [
            (q.pk, q.name, q.priority, q.work_pool.pk, q.work_pool.name) for q in expected]
        assert work_pool_id_get(workspace=workspace, name="mypool") == WorkPool.objects.for_workspace(
            workspace).get(name="mypool").pk
    other = WorkspaceFactory(organization=organization)
    assert work_queues_for_poll(workspace=other, pool_name="mypool") == []
    assert work_pool_id_get(workspace=other, name="mypool") is None
    assert work_pool_id_get(workspace=workspace, name="nope") is None
