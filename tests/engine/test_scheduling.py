"""Schedules and the periodic sweeps: schedule dates (interval, cron with time zone, rrule), the scheduler's
idempotency (twice, and concurrently from threads on real PostgreSQL), paused schedules, Late and Crashed."""

from __future__ import annotations

import datetime
import threading
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.utils import timezone

from apps.core.errors import Invalid
from apps.engine.models import Deployment, DeploymentSchedule, Flow, FlowRun, StateType, Worker, WorkPool
from apps.engine.services import sweeps
from apps.engine.services.deployments import NewRun, SchedulingWindow, flow_runs_insert_scheduled
from apps.engine.services.schedules import schedule_dates, schedule_normalize
from apps.engine.services.work_pools import work_pool_create
from apps.engine.tasks.late_runs import mark_late_runs
from apps.engine.tasks.scheduler import schedule_deployments

UTC = datetime.UTC


def dt(*args, tz=UTC):
    return datetime.datetime(*args, tzinfo=tz)


# --- schedule documents --------------------------------------------------------------------------------

def test_interval_dates_follow_the_anchor():
    doc = schedule_normalize({"interval": 3600, "anchor_date": "2024-01-01T00:30:00+00:00"})
    dates = list(schedule_dates(doc, start=dt(2024, 3, 1, 10, 0), n=3))
    assert dates == [dt(2024, 3, 1, 10, 30), dt(2024, 3, 1, 11, 30), dt(2024, 3, 1, 12, 30)]


def test_daily_interval_keeps_wall_time_across_dst():
    doc = schedule_normalize({"interval": 86400, "anchor_date": "2024-03-29T09:00:00+01:00",
                              "timezone": "Europe/Paris"})
    dates = list(schedule_dates(doc, start=dt(2024, 3, 30, 0, 0), n=2))
    paris = ZoneInfo("Europe/Paris")
    assert [d.astimezone(paris).hour for d in dates] == [9, 9]  # clocks changed on 31 March


def test_cron_with_time_zone():
    doc = schedule_normalize({"cron": "0 9 * * *", "timezone": "America/New_York"})
    dates = list(schedule_dates(doc, start=dt(2024, 7, 1, 0, 0), n=2))
    assert dates == [dt(2024, 7, 1, 13, 0), dt(2024, 7, 2, 13, 0)]  # 9:00 EDT
    winter = list(schedule_dates(doc, start=dt(2024, 12, 1, 0, 0), n=1))
    assert winter == [dt(2024, 12, 1, 14, 0)]  # 9:00 EST


def test_cron_start_on_a_fire_time_includes_it():
    doc = schedule_normalize({"cron": "*/15 * * * *"})
    assert next(schedule_dates(doc, start=dt(2024, 1, 1, 10, 15))) == dt(2024, 1, 1, 10, 15)


def test_rrule_dates_and_end():
    doc = schedule_normalize({"rrule": "DTSTART:20240101T080000\nRRULE:FREQ=WEEKLY;BYDAY=MO,FR",
                              "timezone": "UTC"})
    dates = list(schedule_dates(doc, start=dt(2024, 1, 3), end=dt(2024, 1, 13)))
    assert dates == [dt(2024, 1, 5, 8), dt(2024, 1, 8, 8), dt(2024, 1, 12, 8)]


def test_a_schedule_that_has_fired_for_the_last_time_ends():
    doc = {"rrule": "DTSTART:20200101T000000\nRRULE:FREQ=DAILY;COUNT=2", "timezone": "UTC"}
    assert list(schedule_dates(doc, start=dt(2024, 1, 1), n=5)) == []
    assert list(schedule_dates({"cron": "0 0 30 2 *"}, start=dt(2024, 1, 1), n=1)) == []  # 30 February


@pytest.mark.parametrize("doc, message", [
    ({"cron": "61 * * * *"}, "Invalid cron string"),
    ({"cron": "H * * * *"}, "Invalid cron string"),
    ({"cron": "0 9 * * *", "timezone": "Nowhere/City"}, "Invalid timezone"),
    ({"interval": -5}, "must be positive"),
    ({"interval": 60, "anchor_date": "yesterday"}, "ISO 8601"),
    ({"rrule": "FREQ=NEVER"}, "Invalid RRule"),
    ({"rrule": "FREQ=DAILY", "timezone": "Mars/Base"}, "Invalid timezone"),
    ({"interval": 60, "cron": "* * * * *"}, "exactly one"),
    ({"cron": "0 0 30 2 *"}, "never fires"),
    ({"rrule": "DTSTART:20200101T000000\nRRULE:FREQ=DAILY;COUNT=2"}, "never fires"),
    ({}, "exactly one"),
])
def test_bad_schedules_are_invalid(doc, message):
    with pytest.raises(Invalid, match=message):
        schedule_normalize(doc)


# --- the scheduler ----------------------------------------------------------------------------------------

def make_deployment(ws, schedules=({"interval": 3600},), paused=False, name="dep") -> Deployment:
    flow, _ = Flow.objects.for_workspace(ws).get_or_create(workspace=ws, name="f")
    pool = WorkPool.objects.for_workspace(ws).filter(name="p").first() or work_pool_create(
        workspace=ws, name="p", type="process")
    dep = Deployment.objects.for_workspace(ws).create(workspace=ws, flow=flow, name=name, paused=paused,
                                                      work_queue=pool.default_queue, work_queue_name="default",
                                                      parameters={"x": 1}, tags=["t"])
    for doc in schedules:
        DeploymentSchedule.objects.for_workspace(ws).create(workspace=ws, deployment=dep,
                                                            schedule=schedule_normalize(doc))
    return dep


@pytest.mark.django_db
def test_scheduler_makes_upcoming_runs_once(workspace):
    dep = make_deployment(workspace)
    made = schedule_deployments()
    runs = list(FlowRun.objects.for_workspace(workspace).order_by("expected_start_time"))
    assert made == len(runs) == 3  # at least 3 runs, at least an hour ahead
    assert all(r.auto_scheduled and r.state_type == StateType.SCHEDULED and r.state.name == "Scheduled"
               for r in runs)
    assert runs[0].tags == ["auto-scheduled", "t"] and runs[0].parameters == {"x": 1}
    assert runs[0].idempotency_key == f"scheduled {dep.pk} {runs[0].expected_start_time.isoformat()}"
    assert runs[0].work_queue_id == dep.work_queue_id
    assert schedule_deployments() == 0
    assert FlowRun.objects.for_workspace(workspace).count() == 3


@pytest.mark.django_db
def test_two_schedules_firing_at_the_same_time_make_one_run(workspace):
    make_deployment(workspace, schedules=({"interval": 3600, "anchor_date": "2024-01-01T00:00:00+00:00"},
                                          {"cron": "0 * * * *"}))
    schedule_deployments()
    times = list(FlowRun.objects.for_workspace(workspace).values_list("expected_start_time", flat=True))
    assert len(times) == len(set(times)) == 3


@pytest.mark.django_db
def test_paused_deployments_and_inactive_schedules_make_nothing(workspace):
    make_deployment(workspace, paused=True)
    dep = make_deployment(workspace, name="inactive")
    DeploymentSchedule.objects.for_workspace(workspace).filter(deployment=dep).update(active=False)
    assert schedule_deployments() == 0
    assert FlowRun.objects.for_workspace(workspace).count() == 0


@pytest.mark.django_db
def test_max_scheduled_runs_caps_a_schedule(workspace):
    dep = make_deployment(workspace, schedules=({"interval": 60},))
    DeploymentSchedule.objects.for_workspace(workspace).filter(deployment=dep).update(max_scheduled_runs=5)
    sweeps.deployments_schedule_due(window=SchedulingWindow(min_runs=3, min_time=datetime.timedelta(hours=1)))
    assert FlowRun.objects.for_workspace(workspace).count() == 5


@pytest.mark.django_db(transaction=True)
def test_concurrent_schedulers_never_duplicate_a_run(workspace):
    for i in range(4):
        make_deployment(workspace, name=f"d{i}", schedules=({"interval": 600},))
    errors, barrier = [], threading.Barrier(4)

    def run():
        try:
            barrier.wait()
            sweeps.deployments_schedule_due()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    keys = list(FlowRun.objects.for_workspace(workspace).values_list("idempotency_key", flat=True))
    assert len(keys) == len(set(keys)) == 4 * 7  # every 10 minutes: 7 runs reach an hour ahead
    # each run has exactly one state, its current one
    assert all(r.state is not None and r.states.count() == 1 for r in FlowRun.objects.for_workspace(workspace))


# --- late and crashed -----------------------------------------------------------------------------------

def _runs(ws, dep, times):
    return flow_runs_insert_scheduled(workspace=ws, deployment=dep, runs=[
        NewRun(scheduled_time=t, idempotency_key=None, parameters={}, tags=[], auto_scheduled=False) for t in times])


@pytest.mark.django_db
def test_runs_not_picked_up_in_time_become_late_once(workspace):
    dep = make_deployment(workspace, schedules=())
    now = timezone.now()
    overdue, fresh, future = _runs(workspace, dep, [now - datetime.timedelta(seconds=60),
                                                    now - datetime.timedelta(seconds=5),
                                                    now + datetime.timedelta(hours=1)])
    assert mark_late_runs() == 1
    run = FlowRun.objects.for_workspace(workspace).get(pk=overdue)
    assert (run.state_type, run.state_name, run.state.name, run.state.type) == ("SCHEDULED", "Late", "Late",
                                                                               "SCHEDULED")
    assert run.state.state_details["scheduled_time"] == run.next_scheduled_start_time.isoformat()
    assert run.states.count() == 2
    assert mark_late_runs() == 0
    assert FlowRun.objects.for_workspace(workspace).get(pk=fresh).state_name == "Scheduled"
    assert FlowRun.objects.for_workspace(workspace).get(pk=future).state_name == "Scheduled"


@pytest.mark.django_db
def test_runs_of_a_pool_whose_workers_went_silent_are_crashed(workspace):
    dep = make_deployment(workspace, schedules=())
    pool = dep.work_queue.work_pool
    now = timezone.now()
    old, recent = _runs(workspace, dep, [now - datetime.timedelta(minutes=10)] * 2)
    FlowRun.objects.for_workspace(workspace).filter(pk=old).update(
        state_type=StateType.RUNNING, state_timestamp=now - datetime.timedelta(minutes=9),
        start_time=now - datetime.timedelta(minutes=9))
    # this one reported after the last heartbeat: it is alive on its own
    FlowRun.objects.for_workspace(workspace).filter(pk=recent).update(
        state_type=StateType.RUNNING, state_timestamp=now - datetime.timedelta(seconds=30))
    Worker.objects.for_workspace(workspace).create(workspace=workspace, work_pool=pool, name="w",
                                                   last_heartbeat_time=now - datetime.timedelta(minutes=5),
                                                   heartbeat_interval_seconds=30)
    assert sweeps.flow_runs_mark_crashed(now=now) == 1
    crashed = FlowRun.objects.for_workspace(workspace).get(pk=old)
    assert (crashed.state_type, crashed.state.name, crashed.end_time) == ("CRASHED", "Crashed", now)
    assert "stopped heartbeating" in crashed.state.message
    assert crashed.total_run_time == datetime.timedelta(minutes=9)
    assert FlowRun.objects.for_workspace(workspace).get(pk=recent).state_type == "RUNNING"
    assert sweeps.flow_runs_mark_crashed(now=now) == 0


@pytest.mark.django_db
def test_runs_are_not_crashed_while_a_worker_is_online(workspace):
    dep = make_deployment(workspace, schedules=())
    now = timezone.now()
    (run_id,) = _runs(workspace, dep, [now - datetime.timedelta(minutes=10)])
    FlowRun.objects.for_workspace(workspace).filter(pk=run_id).update(
        state_type=StateType.PENDING, state_timestamp=now - datetime.timedelta(minutes=9))
    Worker.objects.for_workspace(workspace).create(workspace=workspace, work_pool=dep.work_queue.work_pool,
                                                   name="alive", last_heartbeat_time=now,
                                                   heartbeat_interval_seconds=30)
    Worker.objects.for_workspace(workspace).create(workspace=workspace, work_pool=dep.work_queue.work_pool,
                                                   name="dead", last_heartbeat_time=now - datetime.timedelta(hours=1))
    assert sweeps.flow_runs_mark_crashed(now=now) == 0
    assert FlowRun.objects.for_workspace(workspace).get(pk=run_id).state_type == "PENDING"
