"""The optimistic task run set_state (apps/engine/services/run_states.py): an unlocked read, then one
compare-and-swap statement on the run's state id. When another transition lands between the read and the
write, nothing is written and the locked way decides from the state that won, exactly as if the proposal
had waited for the lock; a rule writing rows of its own (slots, the task cache) sends it the locked way
before anything is written."""

from __future__ import annotations

import uuid

import pytest
from django.db import IntegrityError, connection
from django.utils import timezone

from apps.core import prepared
from apps.engine.models import ConcurrencyLimit, OrchestrationDecision, TaskRun, TaskRunState, TaskRunStateCache
from apps.engine.orchestration.task_rules import needs_lock_likely
from apps.engine.schemas.states import StateValue
from apps.engine.selectors.task_runs import task_run_get_for_set_state
from apps.engine.services import task_run_state_cache
from apps.engine.services import task_runs as task_run_services
from apps.engine.services.flow_runs import flow_run_create
from apps.engine.services.flows import flow_create
from apps.engine.services.task_runs import task_run_create, task_run_set_state

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_copy(monkeypatch):
    """The read path: a create copies its task run and its flow run (task_run_state_cache), so a set_state would
    not read at all."""
    monkeypatch.setattr(task_run_state_cache, "ENABLED", False)


@pytest.fixture
def make_task(ws):
    flow, _ = flow_create(workspace=ws, name="cas", tags=[])
    flow_run, _ = flow_run_create(workspace=ws, flow_id=flow.pk, state={"type": "RUNNING"})
    counter = iter(range(1000))

    def make(**fields):
        return task_run_create(workspace=ws, flow_run_id=flow_run.pk, task_key="t", dynamic_key=str(next(counter)),
                               **fields)[0]

    return make


@pytest.fixture
def between_read_and_write(monkeypatch):
    """between_read_and_write(change) → `change()` runs once, right after the optimistic read."""

    def install(change):
        read = task_run_services.task_run_get_for_set_state
        pending = [change]

        def read_then_change(**kwargs):
            run = read(**kwargs)
            if pending:
                pending.pop()()
            return run

        monkeypatch.setattr(task_run_services, "task_run_get_for_set_state", read_then_change)

    return install


def _decisions(ws, run) -> list[tuple]:
    return list(OrchestrationDecision.objects.for_workspace(ws).filter(task_run_id=run.pk)
                .order_by("created", "id").values_list("initial_state_type", "proposed_state_type", "decision"))


def test_a_transition_landing_between_read_and_write_is_decided_from_under_the_lock(ws, make_task,
                                                                                    between_read_and_write):
    task = make_task()  # Pending
    between_read_and_write(lambda: task_run_set_state(workspace=ws, task_run_id=task.pk, state={"type": "RUNNING"}))
    result = task_run_set_state(workspace=ws, task_run_id=task.pk, state={"type": "RUNNING"})
    # read Pending, lost the compare-and-swap to the other Running: decided again from Running (a rerun)
    assert (result.status, result.context.initial_type, result.state.name) == ("ACCEPT", "RUNNING", "Rerunning")
    row = TaskRun.objects.for_workspace(ws).get(pk=task.pk)
    assert (row.state_type, row.state_name, row.run_count, row.state_id) == ("RUNNING", "Rerunning", 2,
                                                                             result.state.id)
    assert TaskRunState.objects.for_workspace(ws).filter(task_run=task).count() == 3
    # one decision each, none left by the lost attempt
    assert _decisions(ws, task)[-2:] == [("PENDING", "RUNNING", "ACCEPT"), ("RUNNING", "RUNNING", "ACCEPT")]


def test_a_decision_that_writes_nothing_is_checked_against_the_state_too(ws, make_task, between_read_and_write):
    task = make_task(state={"type": "CANCELLED"})
    between_read_and_write(lambda: task_run_set_state(workspace=ws, task_run_id=task.pk, state={"type": "PENDING"},
                                                      force=True))
    result = task_run_set_state(workspace=ws, task_run_id=task.pk, state={"type": "CRASHED"})
    # from the Cancelled read it would abort; the run is Pending by the time it writes: Crashed is accepted
    assert (result.status, result.context.initial_type) == ("ACCEPT", "PENDING")
    assert TaskRun.objects.for_workspace(ws).get(pk=task.pk).state_type == "CRASHED"
    assert _decisions(ws, task)[-1] == ("PENDING", "CRASHED", "ACCEPT")
    assert not OrchestrationDecision.objects.for_workspace(ws).filter(task_run_id=task.pk, decision="ABORT").exists()


def test_a_deleted_run_answers_not_found_after_a_lost_swap(ws, make_task, between_read_and_write):
    from apps.core.errors import NotFound

    task = make_task()
    between_read_and_write(lambda: TaskRun.objects.for_workspace(ws).filter(pk=task.pk).delete())
    with pytest.raises(NotFound):
        task_run_set_state(workspace=ws, task_run_id=task.pk, state={"type": "RUNNING"})


def test_rules_writing_rows_of_their_own_take_the_locked_way(ws, make_task, django_assert_num_queries):
    ConcurrencyLimit.objects.for_workspace(ws).create(workspace=ws, tag="db", concurrency_limit=2)
    task = make_task(tags=["db"])
    with django_assert_num_queries(1 + 2 + 4) as captured:
        # the optimistic read, then SAVEPOINT, the locked read, the limits locked, slots written, the
        # run's write, RELEASE (inside the test's transaction): the optimistic attempt wrote nothing
        assert task_run_set_state(workspace=ws, task_run_id=task.pk, state={"type": "RUNNING"}).status == "ACCEPT"
    assert [q["sql"].count("FOR UPDATE") > 0 for q in captured.captured_queries][:3] == [False, False, True]
    assert ConcurrencyLimit.objects.for_workspace(ws).get().active_slots == [str(task.pk)]
    details = {"cache_key": "k"}
    result = task_run_set_state(workspace=ws, task_run_id=task.pk, state={"type": "COMPLETED",
                                                                          "state_details": details})
    assert result.status == "ACCEPT"
    assert ConcurrencyLimit.objects.for_workspace(ws).get().active_slots == []
    assert TaskRunStateCache.objects.for_workspace(ws).get(cache_key="k").task_run_state_id == result.state.id
    assert TaskRunState.objects.for_workspace(ws).filter(task_run=task).count() == 3
    assert len(_decisions(ws, task)) == 2  # one per set_state (the create records none)


def test_a_run_whose_rules_will_write_rows_of_their_own_goes_the_locked_way_at_once(ws, make_task,
                                                                                    django_assert_num_queries):
    ConcurrencyLimit.objects.for_workspace(ws).create(workspace=ws, tag="db", concurrency_limit=2)
    task = make_task(tags=["db"])
    cache_table = TaskRunStateCache._meta.db_table
    with django_assert_num_queries(1 + 2 + 5) as captured:
        # the optimistic read, then SAVEPOINT, the locked read, the cache looked up, the limits locked, slots
        # written, the run's write, RELEASE: no optimistic attempt (which looked the cache up, then gave up)
        result = task_run_set_state(workspace=ws, task_run_id=task.pk,
                                    state={"type": "RUNNING", "state_details": {"cache_key": "k"}})
    assert result.status == "ACCEPT" and not result.context.optimistic
    assert sum(cache_table in q["sql"] for q in captured.captured_queries) == 1
    assert ConcurrencyLimit.objects.for_workspace(ws).get().active_slots == [str(task.pk)]


@pytest.mark.parametrize(("tags", "initial", "proposed", "details", "force", "expected"), [
    ([], "PENDING", "RUNNING", {}, False, False),
    (["db"], "PENDING", "RUNNING", {}, False, True),  # takes a slot
    (["db"], "PENDING", "RUNNING", {}, True, False),  # forced: no slot taken
    (["db"], "RUNNING", "COMPLETED", {}, False, True),  # gives its slot back
    (["db"], "RUNNING", "COMPLETED", {}, True, True),
    (["db"], "CANCELLING", "CANCELLED", {}, True, True),
    (["db"], "RUNNING", "CANCELLING", {}, False, False),
    (["db"], "PENDING", "FAILED", {}, False, False),
    ([], "RUNNING", "COMPLETED", {"cache_key": "k"}, False, True),  # stored in the cache
    ([], "RUNNING", "COMPLETED", {"cache_key": "k"}, True, False),
    ([], "RUNNING", "COMPLETED", {"cache_key": None}, False, False),
    ([], "RUNNING", "FAILED", {"cache_key": "k"}, False, False),
])
def test_the_guess_of_a_lock_follows_the_rules_that_write_rows(ws, make_task, tags, initial, proposed, details,
                                                              force, expected):
    task = make_task(tags=tags, state={"type": initial})
    run = task_run_get_for_set_state(workspace=ws, task_run_id=task.pk)
    state = StateValue.from_input({"type": proposed, "state_details": details}, now=timezone.now())
    assert needs_lock_likely(run, state, force=force) is expected


def test_untagged_runs_without_a_cache_key_write_once(ws, make_task):
    task = make_task()
    result = task_run_set_state(workspace=ws, task_run_id=task.pk, state={"type": "RUNNING"})
    assert result.status == "ACCEPT" and result.context.optimistic


@pytest.mark.django_db(transaction=True)
def test_in_autocommit_the_deferred_foreign_keys_are_checked_when_the_statement_ends(ws, make_task):
    task = make_task()
    assert not connection.in_atomic_block
    run = TaskRun.objects.for_workspace(ws).get(pk=task.pk)
    state = TaskRunState(id=uuid.uuid4(), workspace_id=ws.pk, task_run_id=uuid.uuid4(),  # no such task run
                         type="RUNNING", name="Running", timestamp=timezone.now(), state_details={})
    run.state_id = state.id
    with pytest.raises(IntegrityError):
        prepared.write_together_if([state], run, ["state"], unchanged="state_id", value=task.state_id)
    assert TaskRun.objects.for_workspace(ws).get(pk=task.pk).state_id == task.state_id  # rolled back
    assert not TaskRunState.objects.for_workspace(ws).filter(pk=state.id).exists()
    # and a good write commits on its own
    result = task_run_set_state(workspace=ws, task_run_id=task.pk, state={"type": "RUNNING"})
    assert result.context.optimistic and not connection.in_atomic_block
    assert TaskRun.objects.for_workspace(ws).get(pk=task.pk).state_id == result.state.id
