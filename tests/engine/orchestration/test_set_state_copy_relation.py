"""A task run set_state from this process's copy of the run (apps/engine/services/task_run_state_cache.py) points
the copy at its new state by `state_id` alone (apps/engine/services/run_states.py `deferred_writer(relate=False)`):
no `run.state = row` through Django's ForwardManyToOneDescriptor (~18 k instructions under callgrind); the new row
reaches the copy by the result's `state_row`. What is written and what the next set_state is decided from are the
same as with the relation set: the stored rows, the copy kept (its run and state attributes), the answers."""

from __future__ import annotations

import pytest
from django.db.models.fields.related_descriptors import ForwardManyToOneDescriptor

from apps.engine.models import OrchestrationDecision, TaskRun, TaskRunState
from apps.engine.schemas.states import StateValue
from apps.engine.services import run_states, task_run_state_cache
from apps.engine.services.flow_runs import flow_run_set_state
from apps.engine.services.task_runs import task_run_set_state

pytestmark = pytest.mark.django_db


@pytest.fixture
def assigned(monkeypatch):
    """The task runs whose `state` relation was assigned through Django's descriptor from here on."""
    seen: list = []
    original = ForwardManyToOneDescriptor.__set__

    def counting(self, instance, value):
        if type(instance) is TaskRun and self.field.name == "state":
            seen.append(instance)
        return original(self, instance, value)

    monkeypatch.setattr(ForwardManyToOneDescriptor, "__set__", counting)
    return seen


def _entry(ws, task):
    run, state = task_run_state_cache._task_runs[task_run_state_cache.key(ws.pk, task.pk)]
    return run, state


def test_a_cached_set_state_assigns_no_state_relation(ws, copied, assigned, django_assert_num_queries):
    with django_assert_num_queries(2):  # one statement each: both from the copy
        results = [task_run_set_state(workspace=ws, task_run_id=copied.pk, state={"type": "RUNNING"}),
                   task_run_set_state(workspace=ws, task_run_id=copied.pk, state={"type": "SCHEDULED"})]
    assert assigned == []
    assert [r.status for r in results] == ["ACCEPT", "ACCEPT"] and all(r.wrote_state for r in results)
    # the new row is the result's, the copy kept points at it (decided from at the next set_state)
    run_attributes, state_attributes = _entry(ws, copied)
    row = results[-1].state_row
    assert type(row) is TaskRunState and row.id == results[-1].state.id == run_attributes["state_id"]
    assert row._state.db == "default" and not row._state.adding  # as written (prepared._saved)
    stored = TaskRunState.objects.for_workspace(ws).get(pk=row.id)
    for name in ("id", "workspace_id", "task_run_id", "type", "name", "timestamp", "message", "state_details",
                 "data"):
        assert state_attributes[name] == getattr(stored, name), name
    assert TaskRun.objects.for_workspace(ws).get(pk=copied.pk).state_id == row.id


def test_a_cached_decision_that_writes_no_state_keeps_the_copys_state(ws, flow_run, copied, assigned,
                                                                      django_assert_num_queries):
    flow_run_set_state(workspace=ws, flow_run_id=flow_run.pk, state={"type": "COMPLETED"}, force=True)
    task_run_set_state(workspace=ws, task_run_id=copied.pk, state={"type": "RUNNING"})  # an abort, from a read
    before = _entry(ws, copied)
    with django_assert_num_queries(1):  # from the copy
        again = task_run_set_state(workspace=ws, task_run_id=copied.pk, state={"type": "RUNNING"})
    assert (again.status, again.wrote_state, again.state_row) == ("ABORT", False, None)
    assert _entry(ws, copied) == before and before[0]["state_id"] == before[1]["id"] == copied.state_id


def test_the_copy_kept_is_the_one_the_relation_would_keep(ws, make_task, monkeypatch):
    """The same transitions for two task runs, one with the relation assigned as before (`relate=True`): the
    copies kept hold the same attributes (ids and stamps aside), the answers and stored runs agree."""
    task_run_state_cache.clear()
    make_task()
    first = make_task()
    task_run_set_state(workspace=ws, task_run_id=first.pk, state={"type": "RUNNING"})  # copies the flow run
    tasks = [make_task(empirical_policy={"retries": 1}), make_task(empirical_policy={"retries": 1})]
    outcomes = []
    original = run_states.run_try_set_state
    for relate, task in zip((False, True), tasks, strict=True):
        if relate:
            monkeypatch.setattr("apps.engine.services.task_runs.run_try_set_state",
                                lambda **kw: original(**{**kw, "relate": True}))
        answers, entries = [], []
        for state in ("RUNNING", "FAILED", "RUNNING", "COMPLETED"):
            result = task_run_set_state(workspace=ws, task_run_id=task.pk, state={"type": state})
            answer = result.as_json()
            answers.append((answer["status"], answer["details"], answer["state"] and answer["state"]["type"],
                            answer["state"] and answer["state"]["name"], result.wrote_state))
            found = task_run_state_cache._task_runs.get(task_run_state_cache.key(ws.pk, task.pk))
            entries.append(found and ({k: type(v) for k, v in found[0].items()},
                                      {k: type(v) for k, v in found[1].items()},
                                      found[0]["state_id"] == found[1]["id"],
                                      found[0]["run_count"], found[0]["state_type"], found[1]["type"]))
        stored = TaskRun.objects.for_workspace(ws).get(pk=task.pk)
        outcomes.append((answers, entries, stored.state_type, stored.run_count, stored.end_time is not None))
    assert outcomes[0] == outcomes[1]
    answers, entries, *_ = outcomes[0]
    # Running, Failed (rejected: AwaitingRetry written instead), Running again (Retrying), Completed (a terminal
    # state: the copy dropped)
    assert [(a[0], a[3]) for a in answers] == [("ACCEPT", "Running"), ("REJECT", "AwaitingRetry"),
                                              ("ACCEPT", "Retrying"), ("ACCEPT", "Completed")]
    assert all(e and e[2] for e in entries[:3]) and entries[3] is None



def test_a_cached_set_state_orchestrates_the_proposal_it_made_without_a_copy(ws, copied, monkeypatch):
    """Two StateValues a cached set_state: the client's proposal (orchestrated as it is) and the run's current
    state; the copy of the proposal the attempt made before is gone."""
    made: list = []
    init = StateValue.__init__

    def counting(self, *args, **kwargs):
        made.append(kwargs.get("type"))
        init(self, *args, **kwargs)

    monkeypatch.setattr(StateValue, "__init__", counting)
    for state in ("RUNNING", "COMPLETED"):
        made.clear()
        result = task_run_set_state(workspace=ws, task_run_id=copied.pk, state={"type": state})
        assert result.status == "ACCEPT" and result.state.type == state
        assert sorted(made) == sorted([state, "PENDING" if state == "RUNNING" else "RUNNING"])


def test_a_spent_proposal_is_made_again_when_the_copy_was_stale(ws, copied, django_assert_num_queries):
    """The attempt from a stale copy renames the proposal (a rerun, from the copy's Running) and gives up; the
    fresh read's orchestration starts from the client's proposal as made from its input, not the renamed one."""
    task_run_set_state(workspace=ws, task_run_id=copied.pk, state={"type": "RUNNING"})
    stale = task_run_state_cache._task_runs[task_run_state_cache.key(ws.pk, copied.pk)]
    # another process fails the run (terminal: its copy here dropped); this one's copy still says Running
    task_run_set_state(workspace=ws, task_run_id=copied.pk, state={"type": "FAILED"})
    task_run_state_cache._task_runs[task_run_state_cache.key(ws.pk, copied.pk)] = stale
    with django_assert_num_queries(3):  # the copy's statement (nothing written), the read, the write
        result = task_run_set_state(workspace=ws, task_run_id=copied.pk, state={"type": "RUNNING"})
    # from Failed: the run count starts afresh, so no rename (from the copy's Running it was "Rerunning")
    assert (result.status, result.context.initial_type, result.state.name) == ("ACCEPT", "FAILED", "Running")
    decision = (OrchestrationDecision.objects.for_workspace(ws).filter(task_run_id=copied.pk)
                .order_by("-created").first())
    assert (decision.proposed_state_name, decision.state_id) == ("Running", result.state.id)
    stored = TaskRunState.objects.for_workspace(ws).get(pk=result.state.id)
    assert (stored.name, stored.state_details["task_run_id"]) == ("Running", str(copied.pk))


def test_a_cached_set_state_takes_the_state_and_flow_run_as_the_copy_built_them(ws, copied, monkeypatch):
    """`get_parts` hands over the state and the flow run it built (the run's `state` and `flow_run`): a cached
    set_state does not read them back through Django's descriptor."""
    run, state, flow_run = task_run_state_cache.get_parts(ws.pk, copied.pk)
    assert flow_run is run.flow_run and flow_run.pk == copied.flow_run_id and flow_run.state is not None
    assert state is run.state and state.id == copied.state_id
    assert task_run_state_cache.get(ws.pk, copied.pk).flow_run.pk == copied.flow_run_id
    read: list = []
    original = ForwardManyToOneDescriptor.__get__

    def counting(self, instance, cls=None):
        if type(instance) is TaskRun:
            read.append(instance)
        return original(self, instance, cls)

    monkeypatch.setattr(ForwardManyToOneDescriptor, "__get__", counting)
    for state in ("RUNNING", "COMPLETED"):
        assert task_run_set_state(workspace=ws, task_run_id=copied.pk, state={"type": state}).status == "ACCEPT"
    assert read == []
