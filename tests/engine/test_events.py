"""Events: the `events/in` websocket (authenticated upgrade, one event per message, stored per
workspace, resends deduplicated), `POST events`, and `POST events/filter` with Cloud's page shape."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator

from apps.engine.models import Event
from apps.identity.services import api_key_create
from config.asgi import application
from tests.factories.identity import UserFactory
from tests.factories.workspaces import WorkspaceFactory


def base(ws) -> str:
    return f"/api/accounts/{ws.organization_id}/workspaces/{ws.pk}/"


def make_event(name="prefect.flow-run.Completed", resource_id=None, occurred=None, related=None) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "occurred": (occurred or datetime.now(UTC)).isoformat(),
        "event": name,
        "resource": {"prefect.resource.id": resource_id or f"prefect.flow-run.{uuid.uuid4()}",
                     "prefect.resource.name": "brave-otter"},
        "related": related or [],
        "payload": {"intended": {"from": "RUNNING", "to": "COMPLETED"}},
        "follows": None,
    }


def stream(ws, key: str | None, messages: list[str]) -> tuple[bool, int]:
    """Open events/in as an ASGI server would, send the messages, close; (accepted, first reply type)."""

    async def run():
        headers = [(b"authorization", f"bearer {key}".encode())] if key else []
        scope = {"type": "websocket", "path": base(ws) + "events/in", "headers": headers, "query_string": b"",
                 "subprotocols": []}
        communicator = ApplicationCommunicator(application, scope)
        await communicator.send_input({"type": "websocket.connect"})
        reply = await communicator.receive_output(timeout=5)
        connected = reply["type"] == "websocket.accept"
        if connected:
            for message in messages:
                await communicator.send_input({"type": "websocket.receive", "text": message})
            await communicator.send_input({"type": "websocket.disconnect", "code": 1000})
        await communicator.wait(timeout=5)
        return connected, reply["type"]

    return async_to_sync(run)()


@pytest.mark.django_db(transaction=True)
def test_stream_stores_each_event_once_in_its_workspace(workspace, user_key):
    first, second = make_event(), make_event(name="prefect.task-run.Running")
    accepted, _ = stream(workspace, user_key, [orjson.dumps(first).decode(), orjson.dumps(second).decode(),
                                               orjson.dumps(first).decode(), "not json", '{"event": 1}'])
    assert accepted is True
    rows = Event.objects.for_workspace(workspace).order_by("event")
    assert [(str(r.event_id), r.event) for r in rows] == [
        (first["id"], "prefect.flow-run.Completed"), (second["id"], "prefect.task-run.Running")]
    assert rows[0].resource_id == first["resource"]["prefect.resource.id"]
    assert rows[0].payload == {"intended": {"from": "RUNNING", "to": "COMPLETED"}}


@pytest.mark.django_db(transaction=True)
def test_stream_refuses_bad_keys_and_strangers(workspace, organization):
    assert stream(workspace, None, [])[0] is False
    assert stream(workspace, "pnu_" + "x" * 36, [])[0] is False
    _, stranger_key = api_key_create(owner=UserFactory(), name="s", expires_at=None)
    assert stream(workspace, stranger_key, [])[0] is False
    other_org_ws = WorkspaceFactory()
    _, key = api_key_create(owner=UserFactory(), name="k", expires_at=None)
    assert stream(other_org_ws, key, [])[0] is False
    assert Event.all_workspaces.count() == 0


@pytest.mark.django_db
def test_post_events_then_filter_pages_newest_first(authed_client, workspace):
    now = datetime.now(UTC)
    events = [make_event(occurred=now - timedelta(minutes=i)) for i in range(3)]
    assert authed_client.post(base(workspace) + "events", events, format="json").status_code == 204
    page = authed_client.post(base(workspace) + "events/filter", {"limit": 2}, format="json")
    assert page.status_code == 200
    body = page.json()
    assert body["total"] == 3
    assert [e["id"] for e in body["events"]] == [events[0]["id"], events[1]["id"]]
    assert set(body["events"][0]) == {"id", "occurred", "event", "resource", "related", "payload", "follows",
                                      "received"}
    assert body["next_page"].startswith("http://testserver" + base(workspace) + "events/filter/next?page-token=")
    rest = authed_client.get(body["next_page"]).json()
    assert [e["id"] for e in rest["events"]] == [events[2]["id"]]
    assert rest["next_page"] is None


@pytest.mark.django_db
def test_filter_by_name_resource_and_related(authed_client, workspace):
    flow_run = f"prefect.flow-run.{uuid.uuid4()}"
    tagged = make_event(name="prefect.task-run.Completed",
                        related=[{"prefect.resource.id": flow_run, "prefect.resource.role": "flow-run"}])
    other = make_event(name="prefect.flow-run.Running", resource_id=flow_run)
    authed_client.post(base(workspace) + "events", [tagged, other], format="json")

    def ids(flt):
        response = authed_client.post(base(workspace) + "events/filter", {"filter": flt}, format="json")
        assert response.status_code == 200, response.json()
        return {e["id"] for e in response.json()["events"]}

    assert ids({"event": {"prefix": ["prefect.task-run."]}}) == {tagged["id"]}
    assert ids({"event": {"exclude_prefix": ["prefect.task-run."]}}) == {other["id"]}
    assert ids({"resource": {"id": [flow_run]}}) == {other["id"]}
    assert ids({"related": {"id": [flow_run]}}) == {tagged["id"]}
    assert ids({"any_resource": {"id": [flow_run]}}) == {tagged["id"], other["id"]}
    assert ids({"occurred": {"since": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}}) == set()


@pytest.mark.django_db
def test_bad_events_are_422_and_nothing_stored(authed_client, workspace):
    bad = [make_event(), {**make_event(), "id": "nope"}]
    response = authed_client.post(base(workspace) + "events", bad, format="json")
    assert response.status_code == 422
    assert response.json()["exception_detail"][0]["loc"] == ["body", "id"]
    assert Event.objects.for_workspace(workspace).count() == 0
    unknown = authed_client.post(base(workspace) + "events/filter", {"filter": {"colour": 1}}, format="json")
    assert unknown.status_code == 422


@pytest.mark.django_db
def test_events_of_another_workspace_never_show(authed_client, workspace, organization):
    other = WorkspaceFactory(organization=organization)
    authed_client.post(base(other) + "events", [make_event()], format="json")
    assert authed_client.post(base(workspace) + "events/filter", {}, format="json").json()["total"] == 0
    token = authed_client.post(base(other) + "events/filter", {"limit": 0}, format="json").json()
    assert token["total"] == 1


@pytest.mark.django_db
def test_work_pool_types_lists_the_process_worker(authed_client, workspace):
    body = authed_client.get(base(workspace) + "collections/work_pool_types").json()
    process = body["prefect"]["process"]
    assert process["type"] == "process"
    assert process["display_name"] == "Process"
    assert set(process["default_base_job_configuration"]) == {"job_configuration", "variables"}
