"""Reads for work pools, queues and workers: lookups by name, filters, health (READY / NOT_READY / PAUSED,
workers ONLINE / OFFLINE) and the polling query agents and workers call constantly.

Health is computed from what the pollers leave behind, never by contacting them: a worker is ONLINE while
its last heartbeat is younger than three of its heartbeat intervals; a queue is READY while it was polled
in the last 60 seconds; a pool is READY while one of its workers is online (agent pools, whose agents do
not heartbeat: while one of its queues was polled), PAUSED when paused.
"""

from __future__ import annotations

import datetime
import uuid
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Count, F, Q, QuerySet, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from apps.core.prepared import PreparedQuery
from apps.engine.models import FlowRun, StateType, Worker, WorkPool, WorkQueue
from apps.engine.selectors.filters import work_pool_q, work_queue_q

DEFAULT_HEARTBEAT_SECONDS = 30
INACTIVITY_HEARTBEAT_MULTIPLE = 3
QUEUE_POLL_TIMEOUT = datetime.timedelta(seconds=60)
AGENT_POOL_TYPE = "prefect-agent"
ACTIVE_STATES = (StateType.PENDING, StateType.RUNNING)


def worker_is_online(worker: Worker, now: datetime.datetime) -> bool:
    interval = worker.heartbeat_interval_seconds or DEFAULT_HEARTBEAT_SECONDS
    return worker.last_heartbeat_time >= now - datetime.timedelta(seconds=interval * INACTIVITY_HEARTBEAT_MULTIPLE)


def work_queue_status(queue: WorkQueue, now: datetime.datetime) -> str:
    if queue.is_paused:
        return "PAUSED"
    if queue.last_polled and queue.last_polled >= now - QUEUE_POLL_TIMEOUT:
        return "READY"
    return "NOT_READY"


def work_pool_statuses(*, workspace, pools: list[WorkPool], now: datetime.datetime | None = None) -> dict:
    """{pool id: status} for these pools, in one query for all of them (online workers)."""
    now = now or timezone.now()
    horizon = now - datetime.timedelta(seconds=DEFAULT_HEARTBEAT_SECONDS * INACTIVITY_HEARTBEAT_MULTIPLE * 10)
    online: set = set()
    live = [p.pk for p in pools if not p.is_paused and p.type != AGENT_POOL_TYPE]
    if live:
        recent = Worker.objects.for_workspace(workspace).filter(work_pool_id__in=live,
                                                                 last_heartbeat_time__gte=horizon)
        online = {w.work_pool_id for w in recent.only("work_pool_id", "last_heartbeat_time",
                                                       "heartbeat_interval_seconds") if worker_is_online(w, now)}
    statuses = {}
    for pool in pools:
        if pool.is_paused:
            statuses[pool.pk] = "PAUSED"
        elif pool.type == AGENT_POOL_TYPE:
            polled = pool.last_polled and pool.last_polled >= now - QUEUE_POLL_TIMEOUT
            statuses[pool.pk] = "READY" if polled else "NOT_READY"
        else:
            statuses[pool.pk] = "READY" if pool.pk in online else "NOT_READY"
    return statuses


def work_pool_get_by_name(*, workspace, name: str) -> WorkPool | None:
    return WorkPool.objects.for_workspace(workspace).filter(name=name).first()


def work_pool_list(*, workspace, work_pools: dict | None = None) -> QuerySet[WorkPool]:
    return WorkPool.objects.for_workspace(workspace).filter(work_pool_q(work_pools)).order_by("name", "id")


def work_queue_list(*, workspace, pool: WorkPool | None = None, pool_name: str | None = None,
                    work_queues: dict | None = None) -> QuerySet[WorkQueue]:
    qs = WorkQueue.objects.for_workspace(workspace).select_related("work_pool")
    if pool is not None:
        qs = qs.filter(work_pool=pool)
    if pool_name is not None:
        qs = qs.filter(work_pool__name=pool_name)
    return qs.filter(work_queue_q(work_queues)).order_by("priority", "name", "id")


# Compiled once per process (apps/core/prepared.py): every worker sends a poll and a heartbeat every few seconds.
# A poll reads only what it decides and renders with (pause, limits, names, priority, last_polled): not the
# pool's base job template, descriptions, queue filters and creation times, which cost a poll a third of its
# column decoding (bench/poll_request.py).
_POLL_QUEUE_FIELDS = ("id", "workspace_id", "work_pool_id", "name", "priority", "is_paused", "concurrency_limit",
                      "last_polled", "work_pool__id", "work_pool__workspace_id", "work_pool__name",
                      "work_pool__is_paused", "work_pool__concurrency_limit", "work_pool__last_polled")
_POLL_QUEUES = PreparedQuery(
    lambda workspace_id, pool_name: WorkQueue.objects.for_workspace(workspace_id).select_related("work_pool")
    .only(*_POLL_QUEUE_FIELDS).filter(work_pool__name=pool_name).order_by("priority", "name", "id"),
    types=(uuid.UUID, str))
_POOL_ID = PreparedQuery(
    lambda workspace_id, name: WorkPool.objects.for_workspace(workspace_id).only("id").filter(name=name),
    types=(uuid.UUID, str))


def work_queues_for_poll(*, workspace, pool_name: str) -> list[WorkQueue]:
    """The pool's queues by priority, then name, each with its pool (one read, compiled once per process),
    with the fields a poll uses (_POLL_QUEUE_FIELDS); reading another one costs a query per row."""
    return _POLL_QUEUES.all(workspace.pk, pool_name)


def work_pool_id_get(*, workspace, name: str) -> uuid.UUID | None:
    """The id of the workspace's pool of that name, or None (a heartbeat's read, compiled once per process)."""
    pool = _POOL_ID.one(workspace.pk, name)
    return None if pool is None else pool.pk


def work_queue_get(*, workspace, queue_id) -> WorkQueue | None:
    return WorkQueue.objects.for_workspace(workspace).select_related("work_pool").filter(pk=queue_id).first()


def work_queue_get_by_name(*, workspace, pool_name: str, name: str) -> WorkQueue | None:
    return (WorkQueue.objects.for_workspace(workspace).select_related("work_pool")
            .filter(work_pool__name=pool_name, name=name).first())


def worker_list(*, workspace, pool: WorkPool, workers: dict | None = None,
                now: datetime.datetime | None = None) -> list[Worker]:
    """Workers of a pool, most recent heartbeat first; `status` (ONLINE/OFFLINE) is filtered after reading."""
    now = now or timezone.now()
    f = workers or {}
    qs = Worker.objects.for_workspace(workspace).filter(work_pool=pool)
    if beat := f.get("last_heartbeat_time"):
        if beat.get("before_"):
            qs = qs.filter(last_heartbeat_time__lte=beat["before_"])
        if beat.get("after_"):
            qs = qs.filter(last_heartbeat_time__gte=beat["after_"])
    result = list(qs.order_by("-last_heartbeat_time", "id"))
    if status := f.get("status"):
        wanted = set(status.get("any_") or ("ONLINE", "OFFLINE")) - set(status.get("not_any_") or ())
        result = [w for w in result if ("ONLINE" if worker_is_online(w, now) else "OFFLINE") in wanted]
    return result


def late_runs_count(*, workspace, queue: WorkQueue) -> int:
    return FlowRun.objects.for_workspace(workspace).filter(work_queue=queue, state_type=StateType.SCHEDULED,
                                                           state_name="Late").count()


@dataclass
class PolledRun:
    run: FlowRun
    work_pool_id: object
    work_queue_id: object


def _poll_runs(workspace_id, limit: int, queue_ids: list, scheduled_before, scheduled_after) -> QuerySet[FlowRun]:
    """Scheduled runs of the queues (at most `limit` per queue, first due first), with their state."""
    runs = (
        FlowRun.objects.for_workspace(workspace_id)
        .filter(work_queue_id__in=queue_ids, state_type=StateType.SCHEDULED)
        # runs retrying inside their own process are not handed out again (a missing key is NULL in SQL)
        .filter(Q(empirical_policy__retry_type__isnull=True) | ~Q(empirical_policy__retry_type="in_process"))
    )
    if scheduled_before is not None:
        runs = runs.filter(next_scheduled_start_time__lte=scheduled_before)
    if scheduled_after is not None:
        runs = runs.filter(next_scheduled_start_time__gte=scheduled_after)
    return (runs.select_related("state")
            .annotate(queue_rank=Window(RowNumber(), partition_by=[F("work_queue_id")],
                                        order_by=[F("next_scheduled_start_time").asc(), F("id").asc()]))
            .filter(queue_rank__lte=limit))


# The poll's read compiled once per process and shape (number of queues, which time bounds are given); a
# pool's polls have one or two shapes. Pools polled with more queues at once than this use the ORM.
_PREPARED_POLL_QUEUES = 8
_POLL_RUNS: dict[tuple[int, bool, bool], PreparedQuery] = {}


def _poll_runs_prepared(queues: int, before: bool, after: bool) -> PreparedQuery:
    key = (queues, before, after)
    if key not in _POLL_RUNS:
        def build(workspace_id, limit, *values):
            bounds = iter(values[queues:])
            return _poll_runs(workspace_id, limit, list(values[:queues]), next(bounds) if before else None,
                              next(bounds) if after else None)

        types = (uuid.UUID, int, *(uuid.UUID,) * queues, *(datetime.datetime,) * (before + after))
        _POLL_RUNS.setdefault(key, PreparedQuery(build, types=types))
    return _POLL_RUNS[key]


def scheduled_runs_for_queues(*, workspace, queues: list[WorkQueue], limit: int,
                              scheduled_before: datetime.datetime | None = None,
                              scheduled_after: datetime.datetime | None = None) -> list[PolledRun]:
    """The Scheduled runs due to the given queues (all of one pool, `work_pool` selected), in the order a
    worker should take them: queue priority, then scheduled time.

    Paused pools and queues give nothing, and so does a read-only workspace (over its organization's
    workspace limit: it starts nothing new, docs/billing.md); a queue's or pool's concurrency limit caps
    what is handed out by the runs it already has Pending or Running. Constant query count: one count
    (only when limits are set) and one windowed read that takes at most `limit` runs per queue.
    """
    if not queues or limit <= 0 or workspace.read_only:
        return []
    pool = queues[0].work_pool
    if pool.is_paused:
        return []
    queues = [q for q in queues if not q.is_paused]
    if not queues:
        return []
    slots = {q.pk: q.concurrency_limit for q in queues}
    pool_slots = pool.concurrency_limit
    if pool_slots is not None or any(v is not None for v in slots.values()):
        active = dict(
            FlowRun.objects.for_workspace(workspace)
            .filter(work_queue__work_pool=pool, state_type__in=ACTIVE_STATES)
            .values("work_queue_id").annotate(n=Count("id")).values_list("work_queue_id", "n")
        )
        if pool_slots is not None:
            pool_slots = max(0, pool_slots - sum(active.values()))
        slots = {qid: (None if cap is None else max(0, cap - active.get(qid, 0))) for qid, cap in slots.items()}
    queues = [q for q in queues if slots[q.pk] != 0]
    if not queues or pool_slots == 0:
        return []
    ids = [q.pk for q in queues]
    bounds = [t for t in (scheduled_before, scheduled_after) if t is not None]
    if len(ids) <= _PREPARED_POLL_QUEUES:
        runs = _poll_runs_prepared(len(ids), scheduled_before is not None, scheduled_after is not None).all(
            workspace.pk, limit, *ids, *bounds)
    else:
        runs = _poll_runs(workspace.pk, limit, ids, scheduled_before, scheduled_after)
    by_queue: dict = defaultdict(list)
    for run in runs:
        by_queue[run.work_queue_id].append(run)
    priority = {q.pk: q.priority for q in queues}
    chosen = []
    for queue_id, items in by_queue.items():
        items.sort(key=lambda r: (r.next_scheduled_start_time, r.pk))
        cap = slots[queue_id]
        chosen.extend(items if cap is None else items[:cap])
    chosen.sort(key=lambda r: (priority[r.work_queue_id], r.next_scheduled_start_time, r.pk))
    if pool_slots is not None:
        chosen = chosen[:pool_slots]
    queue_by_id = {q.pk: q for q in queues}
    out = []
    for run in chosen[:limit]:
        run.work_queue = queue_by_id[run.work_queue_id]  # rendering needs the names without another query
        out.append(PolledRun(run=run, work_pool_id=pool.pk, work_queue_id=run.work_queue_id))
    return out
