"""The process's copy of a task run (apps/engine/services/task_run_state_cache.py) builds its flow run once per flow
run entry: `get_parts` hands every task run of the flow run (and every thread) the same read-only flow run instance
until the entry is replaced; `get` still hands out the caller's own. `remember` reads the run's foreign key ids from
its attributes, not through Django's descriptor. A flow run moved by another process is seen as before: the shared
instance says what the (stale) entry says, the compare-and-swap writes nothing, the fresh read decides and replaces
the entry, and the next task run gets a flow run built from the new entry."""

from __future__ import annotations

import pytest
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute

from apps.engine.models import FlowRun, FlowRunState, TaskRun, TaskRunState
from apps.engine.services import flow_runs as flow_run_services
from apps.engine.services import task_run_state_cache
from apps.engine.services.flow_runs import flow_run_set_state
from apps.engine.services.task_runs import task_run_set_state

pytestmark = pytest.mark.django_db


@pytest.fixture
def built(monkeypatch):
    """The models of the instances the cache builds from here on."""
    seen: list = []
    original = task_run_state_cache._instance

    def counting(model, attributes):
        seen.append(model)
        return original(model, attributes)

    monkeypatch.setattr(task_run_state_cache, "_instance", counting)
    return seen


def test_task_runs_of_a_flow_run_share_its_instance(ws, flow_run, copied, make_task, built):
    other = make_task()
    run, state, shared = task_run_state_cache.get_parts(ws.pk, copied.pk)
    again = task_run_state_cache.get_parts(ws.pk, other.pk)
    assert again[2] is shared and run.flow_run is shared and again[0].flow_run is shared
    assert shared.state is shared._state.fields_cache["state"] and shared.state.id == shared.state_id
    assert (shared.pk, shared.state_id) == (flow_run.pk, flow_run.state_id)
    assert built == [TaskRun, TaskRunState, TaskRun, TaskRunState]  # the flow run's two built before (`copied`)
    # the runs and their states are the caller's, each its own
    assert run is not again[0] and state is not again[1]
    # `get` hands out the caller's own flow run: what it changes reaches neither the shared one nor the entry
    own = task_run_state_cache.get(ws.pk, copied.pk)
    assert own.flow_run is not shared and own.flow_run.state is not shared.state
    own.flow_run.run_count = 99
    own.flow_run.state.state_details["changed"] = True
    assert task_run_state_cache.get_parts(ws.pk, other.pk)[2] is shared
    assert shared.run_count != 99 and "changed" not in shared.state.state_details
    assert task_run_state_cache.get(ws.pk, other.pk).flow_run.run_count != 99


def test_a_cached_set_state_builds_the_run_and_its_state_only(ws, copied, make_task, built,
                                                             django_assert_num_queries):
    others = [make_task() for _ in range(2)]
    built.clear()
    with django_assert_num_queries(4):  # one statement each, all from the copy
        for task in (copied, *others):
            assert task_run_set_state(workspace=ws, task_run_id=task.pk, state={"type": "RUNNING"}).status == "ACCEPT"
        assert task_run_set_state(workspace=ws, task_run_id=copied.pk, state={"type": "COMPLETED"}).status == "ACCEPT"
    assert FlowRun not in built and FlowRunState not in built
    assert built == [TaskRun, TaskRunState] * 4


def test_a_flow_run_moved_elsewhere_is_seen_through_the_shared_instance(ws, flow_run, copied, make_task, counted):
    other, third = make_task(), make_task()
    key = task_run_state_cache.key(ws.pk, flow_run.pk)
    # the first task run's set_state builds the shared flow run (Running)
    assert task_run_set_state(workspace=ws, task_run_id=copied.pk, state={"type": "RUNNING"}).status == "ACCEPT"
    stale_entry = task_run_state_cache._flow_runs[key]
    stale = task_run_state_cache.get_parts(ws.pk, other.pk)[2]
    assert stale.state_type == "RUNNING"
    # another process pauses the flow run: this process's entry (and its shared instance) still say Running
    flow_run_set_state(workspace=ws, flow_run_id=flow_run.pk, state={"type": "PAUSED"}, force=True)
    task_run_state_cache._flow_runs[key] = stale_entry
    assert task_run_state_cache.get_parts(ws.pk, other.pk)[2] is stale
    counted.clear()
    counted.update(hit=0, miss=0)
    result = task_run_set_state(workspace=ws, task_run_id=other.pk, state={"type": "RUNNING"})
    # the copy's statement found the flow run moved and wrote nothing; the fresh read decided, as without the copy
    assert counted["hit"] == 1
    assert (result.status, result.state.name) == ("REJECT", "NotReady")
    assert TaskRun.objects.for_workspace(ws).get(pk=other.pk).state_type == "PAUSED"
    # the read replaced the entry: the next task run's flow run is built from it (Paused), not the stale one
    paused = FlowRun.objects.for_workspace(ws).get(pk=flow_run.pk)
    fresh = task_run_state_cache.get_parts(ws.pk, third.pk)[2]
    assert fresh is not stale and (fresh.state_id, fresh.state_type) == (paused.state_id, "PAUSED")
    assert fresh.state.id == paused.state_id and stale.state_type == "RUNNING"
    result = task_run_set_state(workspace=ws, task_run_id=third.pk, state={"type": "RUNNING"})
    assert (result.status, result.state.name) == ("REJECT", "NotReady")


def test_a_forgotten_flow_run_drops_its_shared_instance(ws, flow_run, copied):
    task_run_state_cache.get_parts(ws.pk, copied.pk)
    key = task_run_state_cache.key(ws.pk, flow_run.pk)
    assert key in task_run_state_cache._shared_flow_runs
    task_run_state_cache.flow_run_forget(ws.pk, flow_run.pk)
    assert key not in task_run_state_cache._shared_flow_runs
    assert task_run_state_cache.get_parts(ws.pk, copied.pk) is None


@pytest.fixture
def descriptor_reads(monkeypatch):
    """The foreign key ids read through Django's descriptor from here on: (model, attname)."""
    seen: list = []
    original = ForeignKeyDeferredAttribute.__get__

    def counting(self, instance, cls=None):
        if instance is not None:
            seen.append((type(instance), self.field.attname))
        return original(self, instance, cls)

    monkeypatch.setattr(ForeignKeyDeferredAttribute, "__get__", counting)
    return seen


def test_remember_reads_no_foreign_key_through_the_descriptor(ws, copied, descriptor_reads):
    key = task_run_state_cache.key(ws.pk, copied.pk)
    before = task_run_state_cache._task_runs[key]
    run, state, _ = task_run_state_cache.get_parts(ws.pk, copied.pk)
    descriptor_reads.clear()
    task_run_state_cache.remember(run, flow_run=False, state=state)
    assert descriptor_reads == []
    after = task_run_state_cache._task_runs[key]
    assert after is not before and after == before
    # a run in a terminal state is dropped, also without the descriptor
    state.type = "COMPLETED"
    task_run_state_cache.remember(run, flow_run=False, state=state)
    assert descriptor_reads == [] and key not in task_run_state_cache._task_runs


def test_remember_loads_a_deferred_foreign_key_as_before(ws, copied, django_assert_num_queries):
    key = task_run_state_cache.key(ws.pk, copied.pk)
    before = task_run_state_cache._task_runs[key]
    run = TaskRun.objects.for_workspace(ws).select_related("state").defer("task_inputs").get(pk=copied.pk)
    del run.__dict__["state_id"]  # deferred: the descriptor loads it
    with django_assert_num_queries(1):
        task_run_state_cache.remember(run, flow_run=False)
    assert task_run_state_cache._task_runs[key][0]["state_id"] == copied.state_id
    assert task_run_state_cache._task_runs[key][1] == before[1]


def test_the_flow_runs_set_state_stamps_with_the_apps_clock(ws, flow_run, monkeypatch):
    """flow_run_set_state takes `now` from apps/core/clock.py (as the creates and task_run_set_state do), not from
    `django.utils.timezone.now()` (its LazySettings read of USE_TZ: ~4 k instructions)."""

    class NoTimezone:
        @staticmethod
        def now():
            raise AssertionError("timezone.now() called")

    monkeypatch.setattr(flow_run_services, "timezone", NoTimezone)
    result = flow_run_set_state(workspace=ws, flow_run_id=flow_run.pk, state={"type": "COMPLETED"})
    assert result.status == "ACCEPT"
