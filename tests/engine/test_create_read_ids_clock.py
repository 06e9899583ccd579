"""A task run create makes its id by apps/core/ids.py `uuid4` and reads the clock by apps/core/clock.py `now`; a flow
run create reads the clock by `clock.now`; a task run's and a flow run's answer read the clock (for a Running or
not yet started run's estimates) by `clock.now`: no `UUID.__init__` and no `django.utils.timezone.now()` on the way
(each ~7 k and ~4 k instructions more under callgrind). The ids, stamps and estimates are what the library calls
would make (tests/core/test_ids_clock.py), and a frozen `timezone.now` is still obeyed."""

from __future__ import annotations

import datetime
import uuid

import pytest
from django.utils import timezone

from apps.core import clock
from apps.engine.models import TaskRun
from apps.engine.models.runs import FlowRun, TaskRunState
from apps.engine.schemas.runs import flow_run_json, task_run_json
from apps.engine.selectors.task_runs import task_run_get
from apps.engine.services import task_run_state_cache
from apps.engine.services.flow_runs import flow_run_create
from apps.engine.services.flows import flow_create
from apps.engine.services.task_runs import task_run_create, task_run_set_state

pytestmark = pytest.mark.django_db


@pytest.fixture
def flow(ws):
    return flow_create(workspace=ws, name="ids-clock", tags=[])[0]


def test_a_task_run_create_makes_no_uuid_init_and_no_timezone_now(ws, flow, id_clock_calls):
    task_run_state_cache.clear()
    flow_run = flow_run_create(workspace=ws, flow_id=flow.pk, state={"type": "RUNNING"})[0]
    started = timezone.now()
    id_clock_calls.update(uuid=0, now=0)
    run, created = task_run_create(workspace=ws, flow_run_id=flow_run.pk, task_key="t", dynamic_key="1",
                                   state={"type": "PENDING", "name": "Pending"})
    assert id_clock_calls == {"uuid": 0, "now": 0}
    assert created and type(run.id) is uuid.UUID and run.id.version == 4 and run.id.variant == uuid.RFC_4122
    stored = TaskRun.objects.for_workspace(ws).get(pk=run.pk)
    state = TaskRunState.objects.for_workspace(ws).get(task_run_id=run.pk)
    assert stored.state_id == state.id == run.state_id
    assert state.timestamp.tzinfo is datetime.UTC and started <= state.timestamp <= timezone.now()
    assert stored.expected_start_time == state.timestamp == run.state_timestamp


def test_a_flow_run_create_reads_no_timezone_now(ws, flow, id_clock_calls):
    started = timezone.now()
    id_clock_calls.update(now=0)
    run, created = flow_run_create(workspace=ws, flow_id=flow.pk, state={"type": "PENDING"})
    assert created and id_clock_calls["now"] == 0
    stored = FlowRun.objects.for_workspace(ws).select_related("state").get(pk=run.pk)
    assert stored.state.timestamp.tzinfo is datetime.UTC and started <= stored.state.timestamp <= timezone.now()
    assert stored.expected_start_time == stored.state.timestamp


def test_the_answers_read_the_clock_by_clock_now(ws, flow, id_clock_calls, monkeypatch):
    task_run_state_cache.clear()
    flow_run = flow_run_create(workspace=ws, flow_id=flow.pk, state={"type": "RUNNING"})[0]
    pending = task_run_create(workspace=ws, flow_run_id=flow_run.pk, task_key="t", dynamic_key="p")[0]
    running = task_run_create(workspace=ws, flow_run_id=flow_run.pk, task_key="t", dynamic_key="r")[0]
    task_run_set_state(workspace=ws, task_run_id=running.pk, state={"type": "RUNNING"})
    read = task_run_get(workspace=ws, task_run_id=running.pk)
    scheduled = FlowRun.objects.for_workspace(ws).select_related("state").get(pk=flow_run_create(
        workspace=ws, flow_id=flow.pk, state={"type": "SCHEDULED"})[0].pk)
    reads = []
    real = clock._now
    monkeypatch.setattr(clock, "_now", lambda zone: reads.append(zone) or real(zone))
    id_clock_calls.update(now=0)
    answers = [task_run_json(pending), task_run_json(read), flow_run_json(scheduled)]
    # a Pending run not yet started (its lateness), a Running one (its run time), a Scheduled flow run: one clock
    # read each, by clock.now, none by timezone.now
    assert id_clock_calls["now"] == 0 and reads == [datetime.UTC] * 3
    assert answers[1]["estimated_run_time"] > 0 and answers[1]["state_type"] == "RUNNING"


def test_a_frozen_timezone_now_is_obeyed_by_the_create_and_the_answer(ws, flow, monkeypatch):
    task_run_state_cache.clear()
    flow_run = flow_run_create(workspace=ws, flow_id=flow.pk, state={"type": "RUNNING"})[0]
    frozen = datetime.datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=datetime.UTC)
    monkeypatch.setattr(timezone, "now", lambda: frozen)
    run = task_run_create(workspace=ws, flow_run_id=flow_run.pk, task_key="t", dynamic_key="f")[0]
    assert run.state.timestamp == run.expected_start_time == frozen
    task_run_set_state(workspace=ws, task_run_id=run.pk, state={"type": "RUNNING"})
    later = frozen + datetime.timedelta(seconds=90)
    monkeypatch.setattr(timezone, "now", lambda: later)
    answer = task_run_json(task_run_get(workspace=ws, task_run_id=run.pk))
    assert answer["estimated_run_time"] == 90.0
    assert flow_run_create(workspace=ws, flow_id=flow.pk)[0].state.timestamp == later
