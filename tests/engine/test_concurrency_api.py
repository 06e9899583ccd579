"""Concurrency limits: tag-based (v1: upsert, read by id and tag, filter, reset, delete) and global
(v2: create, read/patch/delete by id or name, filter, atomic increment/decrement with 423 + Retry-After)."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from apps.engine.models.runs import ConcurrencyLimit, ConcurrencyLimitV2
from apps.engine.services.concurrency import SlotsLocked, concurrency_slots_increment
from tests.factories.workspaces import WorkspaceFactory

pytestmark = pytest.mark.django_db


def base(ws) -> str:
    return f"/api/accounts/{ws.organization_id}/workspaces/{ws.pk}/"


def v1(client, ws, tag="db", limit=1):
    return client.post(base(ws) + "concurrency_limits/", {"tag": tag, "concurrency_limit": limit}, format="json")


def v2(client, ws, name="api", limit=2, **extra):
    return client.post(base(ws) + "v2/concurrency_limits/", {"name": name, "limit": limit, **extra}, format="json")


# v1


def test_tag_limit_upsert_read_filter_reset_delete(authed_client, workspace):
    created = v1(authed_client, workspace, "db", 1)
    assert created.status_code == 201
    body = created.json()
    assert set(body) == {"id", "created", "updated", "tag", "concurrency_limit", "active_slots"}
    assert (body["tag"], body["concurrency_limit"], body["active_slots"]) == ("db", 1, [])

    again = v1(authed_client, workspace, "db", 3)  # same tag: the limit changes, the row stays
    assert again.status_code == 200
    assert (again.json()["id"], again.json()["concurrency_limit"]) == (body["id"], 3)
    assert ConcurrencyLimit.objects.for_workspace(workspace).count() == 1

    assert authed_client.get(base(workspace) + f"concurrency_limits/{body['id']}").json()["concurrency_limit"] == 3
    assert authed_client.get(base(workspace) + "concurrency_limits/tag/db").json()["id"] == body["id"]
    v1(authed_client, workspace, "api", 2)
    listed = authed_client.post(base(workspace) + "concurrency_limits/filter", {}, format="json").json()
    assert [row["tag"] for row in listed] == ["api", "db"]
    paged = authed_client.post(base(workspace) + "concurrency_limits/filter", {"limit": 1, "offset": 1}, format="json")
    assert [row["tag"] for row in paged.json()] == ["db"]

    holders = [str(uuid.uuid4()), str(uuid.uuid4())]
    reset = authed_client.post(base(workspace) + "concurrency_limits/tag/db/reset", {"slot_override": holders},
                               format="json")
    assert reset.status_code == 200
    assert authed_client.get(base(workspace) + "concurrency_limits/tag/db").json()["active_slots"] == holders
    assert authed_client.post(base(workspace) + "concurrency_limits/tag/db/reset", {}, format="json").status_code == 200
    assert authed_client.get(base(workspace) + "concurrency_limits/tag/db").json()["active_slots"] == []

    assert authed_client.delete(base(workspace) + "concurrency_limits/tag/db").status_code == 200
    assert authed_client.get(base(workspace) + "concurrency_limits/tag/db").status_code == 404
    api_id = listed[0]["id"]
    assert authed_client.delete(base(workspace) + f"concurrency_limits/{api_id}").status_code == 200
    missing = authed_client.delete(base(workspace) + f"concurrency_limits/{api_id}")
    assert (missing.status_code, missing.json()["detail"]) == (404, "Concurrency limit not found")
    assert ConcurrencyLimit.objects.for_workspace(workspace).count() == 0


@pytest.mark.parametrize("body", [{"tag": "db"}, {"tag": "db", "concurrency_limit": "one"},
                                  {"tag": "db", "concurrency_limit": -1},
                                  {"tag": "db", "concurrency_limit": 1, "colour": "red"}, {"concurrency_limit": 1}])
def test_bad_tag_limit_is_422_and_nothing_stored(authed_client, workspace, body):
    response = authed_client.post(base(workspace) + "concurrency_limits/", body, format="json")
    assert response.status_code == 422
    assert response.json()["exception_message"] == "Invalid request received."
    assert ConcurrencyLimit.objects.for_workspace(workspace).count() == 0


def test_bad_ids_and_overrides_are_422(authed_client, workspace):
    v1(authed_client, workspace, "db", 1)
    assert authed_client.get(base(workspace) + "concurrency_limits/not-a-uuid").status_code == 422
    bad = authed_client.post(base(workspace) + "concurrency_limits/tag/db/reset", {"slot_override": ["x"]},
                             format="json")
    assert bad.status_code == 422
    missing = authed_client.post(base(workspace) + "concurrency_limits/tag/nope/reset", {}, format="json")
    assert missing.status_code == 404


def test_other_workspaces_tag_limits_are_404(authed_client, workspace, organization):
    other = WorkspaceFactory(organization=organization)
    theirs = v1(authed_client, other, "db", 1).json()
    assert authed_client.get(base(workspace) + f"concurrency_limits/{theirs['id']}").status_code == 404
    assert authed_client.get(base(workspace) + "concurrency_limits/tag/db").status_code == 404
    assert authed_client.delete(base(workspace) + f"concurrency_limits/{theirs['id']}").status_code == 404
    assert authed_client.delete(base(workspace) + "concurrency_limits/tag/db").status_code == 404
    assert authed_client.post(base(workspace) + "concurrency_limits/tag/db/reset", {}, format="json").status_code == 404
    assert authed_client.post(base(workspace) + "concurrency_limits/filter", {}, format="json").json() == []
    assert ConcurrencyLimit.objects.for_workspace(other).get().concurrency_limit == 1


# v2


def test_global_limit_create_read_patch_delete_by_id_and_name(authed_client, workspace):
    created = v2(authed_client, workspace, "api", 5, slot_decay_per_second=0.5)
    assert created.status_code == 201
    body = created.json()
    assert set(body) == {"id", "created", "updated", "active", "name", "limit", "active_slots", "denied_slots",
                         "slot_decay_per_second", "avg_slot_occupancy_seconds"}
    assert (body["active"], body["limit"], body["active_slots"], body["slot_decay_per_second"],
            body["avg_slot_occupancy_seconds"]) == (True, 5, 0, 0.5, 2.0)

    by_name = authed_client.get(base(workspace) + "v2/concurrency_limits/api").json()
    assert set(by_name) == {"id", "created", "updated", "active", "name", "limit", "active_slots",
                            "slot_decay_per_second"}
    assert authed_client.get(base(workspace) + f"v2/concurrency_limits/{body['id']}").json()["name"] == "api"

    patched = authed_client.patch(base(workspace) + "v2/concurrency_limits/api", {"limit": 7, "active": False},
                                  format="json")
    assert patched.status_code == 204
    row = ConcurrencyLimitV2.objects.for_workspace(workspace).get()
    assert (row.limit, row.active) == (7, False)
    assert authed_client.patch(base(workspace) + f"v2/concurrency_limits/{body['id']}", {"name": "api-2"},
                               format="json").status_code == 204
    assert authed_client.get(base(workspace) + "v2/concurrency_limits/api").status_code == 404

    v2(authed_client, workspace, "aardvark", 1)
    listed = authed_client.post(base(workspace) + "v2/concurrency_limits/filter", {}, format="json").json()
    assert [row["name"] for row in listed] == ["aardvark", "api-2"]

    assert authed_client.delete(base(workspace) + "v2/concurrency_limits/api-2").status_code == 204
    assert authed_client.delete(base(workspace) + f"v2/concurrency_limits/{listed[0]['id']}").status_code == 204
    missing = authed_client.delete(base(workspace) + "v2/concurrency_limits/aardvark")
    assert (missing.status_code, missing.json()["detail"]) == (404, "Concurrency Limit not found")


def test_duplicate_global_name_is_409(authed_client, workspace):
    v2(authed_client, workspace, "api", 2)
    assert v2(authed_client, workspace, "api", 9).status_code == 409
    v2(authed_client, workspace, "other", 2)
    renamed = authed_client.patch(base(workspace) + "v2/concurrency_limits/other", {"name": "api"}, format="json")
    assert renamed.status_code == 409
    assert sorted(ConcurrencyLimitV2.objects.for_workspace(workspace).values_list("name", "limit")) == [
        ("api", 2), ("other", 2)]


@pytest.mark.parametrize("body", [{"name": "a/b", "limit": 1}, {"name": "x", "limit": -1}, {"limit": 1},
                                  {"name": "x", "limit": 1, "slot_decay_per_second": -0.5},
                                  {"name": "x", "limit": 1, "colour": "red"}])
def test_bad_global_limit_is_422_and_nothing_stored(authed_client, workspace, body):
    response = authed_client.post(base(workspace) + "v2/concurrency_limits/", body, format="json")
    assert response.status_code == 422
    assert ConcurrencyLimitV2.objects.for_workspace(workspace).count() == 0


def increment(client, ws, names, slots=1, **extra):
    return client.post(base(ws) + "v2/concurrency_limits/increment", {"names": names, "slots": slots, **extra},
                       format="json")


def decrement(client, ws, names, slots=1, **extra):
    return client.post(base(ws) + "v2/concurrency_limits/decrement", {"names": names, "slots": slots, **extra},
                       format="json")


def held(ws, name) -> int:
    return ConcurrencyLimitV2.objects.for_workspace(ws).get(name=name).active_slots


def test_increment_takes_all_or_nothing_then_423_with_retry_after(authed_client, workspace):
    v2(authed_client, workspace, "a", 2)
    v2(authed_client, workspace, "b", 1)
    first = increment(authed_client, workspace, ["a", "b"])
    assert first.status_code == 200
    assert sorted((row["name"], row["limit"]) for row in first.json()) == [("a", 2), ("b", 1)]
    assert (held(workspace, "a"), held(workspace, "b")) == (1, 1)

    blocked = increment(authed_client, workspace, ["a", "b"])  # b is full: a is not taken either
    assert blocked.status_code == 423
    assert float(blocked["Retry-After"]) == pytest.approx(2.0)  # b: (1 waiting + 0 denied) / limit 1 * 2 s
    assert (held(workspace, "a"), held(workspace, "b")) == (1, 1)
    assert ConcurrencyLimitV2.objects.for_workspace(workspace).get(name="b").denied_slots == 1

    released = decrement(authed_client, workspace, ["a", "b"], occupancy_seconds=4.0)
    assert released.status_code == 200
    assert (held(workspace, "a"), held(workspace, "b")) == (0, 0)
    b = ConcurrencyLimitV2.objects.for_workspace(workspace).get(name="b")
    assert b.avg_slot_occupancy_seconds == pytest.approx(2.0 + (4.0 - 2.0) / 2)  # averaged over limit * 2 samples
    assert decrement(authed_client, workspace, ["a"]).status_code == 200  # never below zero
    assert held(workspace, "a") == 0


def test_increment_creates_unknown_names_inactive_and_ignores_them(authed_client, workspace):
    response = increment(authed_client, workspace, ["ghost"], slots=3)
    assert response.status_code == 200
    ghost = ConcurrencyLimitV2.objects.for_workspace(workspace).get(name="ghost")
    assert (ghost.active, ghost.limit, ghost.active_slots) == (False, 1, 0)
    assert v2(authed_client, workspace, "ghost", 1).status_code == 409


def test_increment_refusals(authed_client, workspace):
    v2(authed_client, workspace, "small", 1)
    too_many = increment(authed_client, workspace, ["small"], slots=2)
    assert (too_many.status_code, too_many.json()["exception_detail"][0]["msg"]) == (
        422, "Slots requested is greater than the limit")
    not_decaying = increment(authed_client, workspace, ["small"], mode="rate_limit")
    assert not_decaying.status_code == 422
    assert "do not have a decay configured: 'small'" in not_decaying.json()["exception_detail"][0]["msg"]
    for body in ({"names": [], "slots": 1}, {"names": ["small"], "slots": 0}, {"names": ["small"]},
                 {"names": ["small"], "slots": 1, "mode": "fast"}):
        assert authed_client.post(base(workspace) + "v2/concurrency_limits/increment", body,
                                  format="json").status_code == 422
    assert held(workspace, "small") == 0


def test_rate_limit_slots_decay_with_time(authed_client, workspace):
    v2(authed_client, workspace, "rl", 2, slot_decay_per_second=1.0)
    assert increment(authed_client, workspace, ["rl"], slots=2, mode="rate_limit").status_code == 200
    assert increment(authed_client, workspace, ["rl"], mode="rate_limit").status_code == 423
    # Two seconds later both slots have decayed away.
    ConcurrencyLimitV2.objects.for_workspace(workspace).filter(name="rl").update(
        updated=timezone.now() - timedelta(seconds=2))
    assert increment(authed_client, workspace, ["rl"], mode="rate_limit").status_code == 200
    assert held(workspace, "rl") == 1


def test_other_workspaces_global_limits_are_404(authed_client, workspace, organization):
    other = WorkspaceFactory(organization=organization)
    theirs = v2(authed_client, other, "api", 1).json()
    for path in (f"v2/concurrency_limits/{theirs['id']}", "v2/concurrency_limits/api"):
        assert authed_client.get(base(workspace) + path).status_code == 404
        assert authed_client.patch(base(workspace) + path, {"limit": 9}, format="json").status_code == 404
        assert authed_client.delete(base(workspace) + path).status_code == 404
    assert increment(authed_client, workspace, ["api"]).status_code == 200  # a new, inactive "api" of its own
    theirs_now = ConcurrencyLimitV2.objects.for_workspace(other).get()
    assert (theirs_now.limit, theirs_now.active_slots) == (1, 0)


def test_stranger_gets_404(api_client, workspace):
    from apps.identity.services import api_key_create
    from tests.factories.identity import UserFactory

    _, key = api_key_create(owner=UserFactory(), name="s", expires_at=None)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert v1(api_client, workspace).status_code == 404
    assert v2(api_client, workspace).status_code == 404
    assert increment(api_client, workspace, ["x"]).status_code == 404
    assert ConcurrencyLimitV2.objects.for_workspace(workspace).count() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_increments_never_pass_the_limit(workspace):
    """Eight threads race for a limit of three slots: exactly three win (row locks, in name order)."""
    ConcurrencyLimitV2.objects.for_workspace(workspace).create(workspace=workspace, name="race", limit=3)
    ConcurrencyLimitV2.objects.for_workspace(workspace).create(workspace=workspace, name="race-b", limit=10)
    start = threading.Barrier(8)
    outcomes: list[str] = []

    def contender(order):
        try:
            start.wait()
            concurrency_slots_increment(workspace=workspace, names=order, slots=1)
            outcomes.append("won")
        except SlotsLocked:
            outcomes.append("locked")
        finally:
            connection.close()

    threads = [threading.Thread(target=contender, args=(["race", "race-b"] if i % 2 else ["race-b", "race"],))
               for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["locked"] * 5 + ["won"] * 3
    assert held(workspace, "race") == 3
    assert held(workspace, "race-b") == 3
