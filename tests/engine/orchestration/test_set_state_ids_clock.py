"""A task run set_state makes its ids by apps/core/ids.py `uuid4` (the state's, by StateValue; the decision row's,
by apps/core/rows.py's builder for a field defaulting to `uuid.uuid4`) and reads the clock by apps/core/clock.py
`now`: no `UUID.__init__` and no `django.utils.timezone.now()` on the way (each ~7 k and ~4 k instructions more
under callgrind). The ids and stamps are what the library calls would make (tests/core/test_ids_clock.py)."""

from __future__ import annotations

import datetime
import uuid

import pytest
from django.utils import timezone

from apps.core import ids, rows
from apps.engine.models import TaskRun
from apps.engine.models.runs import OrchestrationDecision, TaskRunState
from apps.engine.schemas.states import StateValue
from apps.engine.services import task_run_state_cache
from apps.engine.services.task_runs import task_run_create, task_run_set_state

pytestmark = pytest.mark.django_db


def test_a_cached_set_state_makes_no_uuid_init_and_no_timezone_now(ws, flow_run, id_clock_calls):
    task_run_state_cache.clear()
    first = task_run_create(workspace=ws, flow_run_id=flow_run.pk, task_key="t", dynamic_key="1")[0]
    task_run_set_state(workspace=ws, task_run_id=first.pk, state={"type": "RUNNING"})  # copies the flow run
    task = task_run_create(workspace=ws, flow_run_id=flow_run.pk, task_key="t", dynamic_key="2")[0]
    started = timezone.now()
    id_clock_calls.update(uuid=0, now=0)
    results = [task_run_set_state(workspace=ws, task_run_id=task.pk, state={"type": state})
               for state in ("RUNNING", "COMPLETED")]
    assert id_clock_calls == {"uuid": 0, "now": 0}
    assert [r.status for r in results] == ["ACCEPT", "ACCEPT"] and all(r.wrote_state for r in results)
    run = TaskRun.objects.for_workspace(ws).get(pk=task.pk)
    states = list(TaskRunState.objects.for_workspace(ws).filter(task_run_id=task.pk).order_by("timestamp"))
    decisions = list(OrchestrationDecision.objects.for_workspace(ws).filter(task_run_id=task.pk)
                     .order_by("created"))
    assert [s.type for s in states] == ["PENDING", "RUNNING", "COMPLETED"]
    assert [d.state_id for d in decisions[-2:]] == [s.id for s in states[1:]]
    assert run.state_id == states[-1].id == results[-1].state.id
    for made in [*states[1:], *decisions[-2:]]:
        assert made.id.version == 4 and made.id.variant == uuid.RFC_4122
        assert made.created.tzinfo is not None and started <= made.created <= timezone.now()
    assert started <= run.updated and started <= states[-1].timestamp == run.state_timestamp


def test_new_state_ids_and_uuid_defaults_come_from_ids_uuid4():
    assert StateValue.__dataclass_fields__["id"].default_factory is ids.uuid4
    for model in (TaskRunState, OrchestrationDecision, TaskRun):
        field = model._meta.pk
        assert field.default is uuid.uuid4
        assert rows._default_of(field) == (rows._MADE, ids.uuid4)
    made = rows.new_instance(OrchestrationDecision, ("rule",), ("r",))
    assert type(made.id) is uuid.UUID and made.id.version == 4
    assert isinstance(StateValue(type="RUNNING", name="Running", timestamp=datetime.datetime.now(datetime.UTC)).id,
                      uuid.UUID)
