"""Reads for the browser pages: dashboard figures and the lists and details the pages show.

Every function takes the workspace and scopes each query with `.for_workspace(ws)`; lists batch their
related rows (one query per relation, never per row) so a page costs a fixed number of queries.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass, field

from django.db.models import Case, Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce, TruncDay, TruncHour

from apps.engine.models import (
    ConcurrencyLimit,
    ConcurrencyLimitV2,
    Deployment,
    DeploymentSchedule,
    Flow,
    FlowRun,
    FlowRunState,
    Log,
    OrchestrationDecision,
    StateType,
    TaskRun,
    Worker,
    WorkPool,
    WorkQueue,
)

FAILING_STATE_TYPES = (StateType.FAILED, StateType.CRASHED)
# Prefect's late-runs service marks a Scheduled run "Late" once it is this far past its start time.
LATE_AFTER = datetime.timedelta(seconds=15)
# Prefect 2.20 (server/schemas/responses.py): a worker is online while its last heartbeat is younger
# than three heartbeat intervals (30 s when the worker did not say).
DEFAULT_HEARTBEAT_INTERVAL_SECONDS = 30
INACTIVITY_HEARTBEAT_MULTIPLE = 3


# ---------------------------------------------------------------------------------------------- dashboard

@dataclass
class RunHistogram:
    """Flow runs per time bucket and state type: `labels` are bucket starts, `series[state] = counts`."""

    buckets: list[datetime.datetime]
    series: dict[str, list[int]]
    totals: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.totals.values())


def flow_run_histogram(*, workspace, since: datetime.datetime, until: datetime.datetime,
                       bucket: str) -> RunHistogram:
    """Counts of flow runs expected to start in [since, until), per `bucket` ("hour" or "day") and state type,
    in one grouped query. Buckets without runs are present with zeros so the chart's axis is continuous."""
    trunc = {"hour": TruncHour, "day": TruncDay}[bucket]
    step = datetime.timedelta(hours=1) if bucket == "hour" else datetime.timedelta(days=1)
    rows = (
        FlowRun.objects.for_workspace(workspace)
        .filter(expected_start_time__gte=since, expected_start_time__lt=until)
        .annotate(bucket=trunc("expected_start_time", tzinfo=datetime.UTC))
        .values("bucket", "state_type")
        .annotate(n=Count("id"))
        .order_by()
    )
    first = since.astimezone(datetime.UTC).replace(minute=0, second=0, microsecond=0)
    if bucket == "day":
        first = first.replace(hour=0)
    buckets = []
    moment = first
    while moment < until:
        buckets.append(moment)
        moment += step
    index = {b: i for i, b in enumerate(buckets)}
    series: dict[str, list[int]] = {}
    totals: dict[str, int] = {}
    for row in rows:
        state = row["state_type"] or "NONE"
        counts = series.setdefault(state, [0] * len(buckets))
        position = index.get(row["bucket"])
        if position is not None:
            counts[position] += row["n"]
        totals[state] = totals.get(state, 0) + row["n"]
    ordered = {s: series[s] for s in [*StateType.values, "NONE"] if s in series}
    return RunHistogram(buckets=buckets, series=ordered, totals={s: totals[s] for s in ordered})


def flow_run_attention_list(*, workspace, since: datetime.datetime, now: datetime.datetime,
                            limit: int = 10) -> list[FlowRun]:
    """Runs that need a look, worst first: failed or crashed runs since `since` (newest first), then runs
    that are late (marked Late, or Scheduled and past their start time by more than Prefect's threshold)."""
    late = Q(state_type=StateType.SCHEDULED) & (
        Q(state_name="Late") | Q(next_scheduled_start_time__lt=now - LATE_AFTER)
    )
    failing = Q(state_type__in=FAILING_STATE_TYPES, expected_start_time__gte=since)
    return list(
        FlowRun.objects.for_workspace(workspace)
        .filter(failing | late)
        .annotate(rank=Case(When(failing, then=Value(0)), default=Value(1), output_field=IntegerField()))
        .select_related("flow", "deployment")
        .order_by("rank", "-state_timestamp")[:limit]
    )


# Prefect 2.20 (server/models/work_queues.py): a queue is healthy while it was polled in the last 60 s and
# holds no Late run. Agent pools (type prefect-agent) have no workers and no pool status of their own there;
# its UI shows them by that queue health, so ours does too.
AGENT_POOL_TYPE = "prefect-agent"
QUEUE_POLL_TIMEOUT = datetime.timedelta(seconds=60)


def _late(q: Q) -> Q:
    """`q` and Prefect's Late: Scheduled runs the late-runs sweep renamed Late."""
    return q & Q(state_type=StateType.SCHEDULED, state_name="Late")


@dataclass
class PoolHealth:
    pool: WorkPool
    queue_count: int
    workers_online: int
    workers_total: int
    last_heartbeat: datetime.datetime | None
    queues_polled_recently: int = 0
    late_runs: int = 0

    @property
    def is_agent_pool(self) -> bool:
        return self.pool.type == AGENT_POOL_TYPE

    @property
    def status(self) -> str:
        """Paused; for an agent pool Healthy (an agent polled one of its queues in the last minute and no run
        in it is Late) or Unhealthy; for a worker pool Ready (a worker online) or Not ready."""
        if self.pool.is_paused:
            return "Paused"
        if self.is_agent_pool:
            return "Healthy" if self.queues_polled_recently and not self.late_runs else "Unhealthy"
        return "Ready" if self.workers_online else "Not ready"

    @property
    def summary(self) -> str:
        """What the status rests on, in words (the "Workers online" column; agents do not heartbeat)."""
        if not self.is_agent_pool:
            return f"{self.workers_online} of {self.workers_total}"
        polled = (f"agent polled {self.queues_polled_recently} of {self.queue_count} queues in the last minute"
                  if self.queues_polled_recently else "no agent polled in the last minute")
        late = f"; {self.late_runs} late run{'s' if self.late_runs != 1 else ''}" if self.late_runs else ""
        return polled[0].upper() + polled[1:] + late


def worker_is_online(worker: Worker, now: datetime.datetime) -> bool:
    interval = worker.heartbeat_interval_seconds or DEFAULT_HEARTBEAT_INTERVAL_SECONDS
    return worker.last_heartbeat_time > now - datetime.timedelta(seconds=interval * INACTIVITY_HEARTBEAT_MULTIPLE)


def _count(queryset) -> Coalesce:
    """A grouped count subquery (annotated `n`) as an integer, 0 when no row matches."""
    return Coalesce(Subquery(queryset.values("n")[:1], output_field=IntegerField()), 0)


def work_pool_health_list(*, workspace, now: datetime.datetime) -> list[PoolHealth]:
    """Every work pool with its queue count, workers online/total, last heartbeat and (for agent pools) how
    many of its queues were polled lately and how many of its runs are late: two queries."""
    queues = (WorkQueue.objects.for_workspace(workspace).filter(work_pool=OuterRef("pk")).order_by()
              .values("work_pool"))
    late = (FlowRun.objects.for_workspace(workspace).filter(_late(Q(work_queue__work_pool=OuterRef("pk"))))
            .order_by().values("work_queue__work_pool"))
    pools = list(
        WorkPool.objects.for_workspace(workspace)
        .annotate(queue_count=_count(queues.annotate(n=Count("id"))),
                  queues_polled=_count(queues.filter(last_polled__gte=now - QUEUE_POLL_TIMEOUT,
                                                     is_paused=False).annotate(n=Count("id"))),
                  late_runs=_count(late.annotate(n=Count("id"))))
        .order_by("name")
    )
    workers_by_pool: dict[uuid.UUID, list[Worker]] = {}
    for worker in Worker.objects.for_workspace(workspace).filter(work_pool__in=[p.pk for p in pools]):
        workers_by_pool.setdefault(worker.work_pool_id, []).append(worker)
    health = []
    for pool in pools:
        workers = workers_by_pool.get(pool.pk, [])
        health.append(PoolHealth(
            pool=pool, queue_count=pool.queue_count,
            workers_online=sum(worker_is_online(w, now) for w in workers), workers_total=len(workers),
            last_heartbeat=max((w.last_heartbeat_time for w in workers), default=None),
            queues_polled_recently=pool.queues_polled, late_runs=pool.late_runs,
        ))
    return health


# ---------------------------------------------------------------------------------------------- flow runs

@dataclass
class FlowRunFilter:
    """What the runs page filters on; every field optional."""

    states: list[str] = field(default_factory=list)
    flow_ids: list[uuid.UUID] = field(default_factory=list)
    deployment_ids: list[uuid.UUID] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    since: datetime.datetime | None = None
    until: datetime.datetime | None = None


def flow_run_list(*, workspace, run_filter: FlowRunFilter) -> QuerySet[FlowRun]:
    """Flow runs matching the filter, newest expected start first, with flow and deployment joined."""
    qs = FlowRun.objects.for_workspace(workspace).select_related("flow", "deployment")
    if run_filter.states:
        qs = qs.filter(state_type__in=run_filter.states)
    if run_filter.flow_ids:
        qs = qs.filter(flow_id__in=run_filter.flow_ids)
    if run_filter.deployment_ids:
        qs = qs.filter(deployment_id__in=run_filter.deployment_ids)
    if run_filter.tags:
        # All of the tags (Prefect's `tags.all_`), as the API's filter does.
        qs = qs.filter(tags__contains_all=list(run_filter.tags))
    if run_filter.since:
        qs = qs.filter(expected_start_time__gte=run_filter.since)
    if run_filter.until:
        qs = qs.filter(expected_start_time__lt=run_filter.until)
    return qs.order_by(Coalesce("expected_start_time", "created").desc(), "-id")


def flow_run_page(*, workspace, run_filter: FlowRunFilter, offset: int, limit: int) -> tuple[list[FlowRun], bool]:
    """One page of `flow_run_list` and whether another follows (one query: a row past the page is read)."""
    rows = list(flow_run_list(workspace=workspace, run_filter=run_filter)[offset:offset + limit + 1])
    return rows[:limit], len(rows) > limit


def flow_run_get(*, workspace, flow_run_id) -> FlowRun | None:
    """A flow run with what its page shows beside it: flow, deployment, queue and parent task run."""
    return (
        FlowRun.objects.for_workspace(workspace)
        .select_related("flow", "state", "deployment", "work_queue", "work_queue__work_pool", "parent_task_run",
                        "parent_task_run__flow_run")
        .filter(pk=flow_run_id).first()
    )


@dataclass
class Transition:
    """One step of a run's history: the state written (None when the proposal was refused) and the
    orchestration decisions made about it, in order."""

    timestamp: datetime.datetime
    state: FlowRunState | None
    decisions: list[OrchestrationDecision]


def flow_run_transitions(*, workspace, flow_run: FlowRun) -> list[Transition]:
    """The run's state history joined with its orchestration decisions (two queries). Decisions of a
    refused, delayed or aborted proposal wrote no state: they appear as their own step, in time order."""
    states = list(FlowRunState.objects.for_workspace(workspace).filter(flow_run=flow_run)
                  .order_by("timestamp", "created"))
    decisions = list(OrchestrationDecision.objects.for_workspace(workspace).filter(flow_run=flow_run)
                     .order_by("created", "id"))
    by_state: dict[uuid.UUID, list[OrchestrationDecision]] = {}
    refused: list[OrchestrationDecision] = []
    for decision in decisions:
        if decision.state_id:
            by_state.setdefault(decision.state_id, []).append(decision)
        else:
            refused.append(decision)
    steps = [Transition(timestamp=s.timestamp, state=s, decisions=by_state.get(s.pk, [])) for s in states]
    steps += [Transition(timestamp=d.created, state=None, decisions=[d]) for d in refused]
    return sorted(steps, key=lambda t: t.timestamp)


def task_run_list_for_flow_run(*, workspace, flow_run: FlowRun, limit: int = 500) -> list[TaskRun]:
    """The run's task runs in start order (expected start, then creation), at most `limit`."""
    return list(
        TaskRun.objects.for_workspace(workspace).filter(flow_run=flow_run)
        .order_by(Coalesce("start_time", "expected_start_time", "created"), "created")[:limit]
    )


def subflow_run_list(*, workspace, flow_run: FlowRun) -> list[FlowRun]:
    """Flow runs started from this run's tasks (subflows), with their flows."""
    return list(
        FlowRun.objects.for_workspace(workspace).filter(parent_task_run__flow_run=flow_run)
        .select_related("flow").order_by(Coalesce("expected_start_time", "created"))
    )


@dataclass(frozen=True)
class LogCursor:
    """Where a reader of a run's logs stopped: logs are followed in the order the server stored them."""

    created: datetime.datetime
    id: uuid.UUID


def flow_run_log_tail(*, workspace, flow_run_id, limit: int) -> list[Log]:
    """The last `limit` log lines the server received for the run, oldest first."""
    rows = list(Log.objects.for_workspace(workspace).filter(flow_run_id=flow_run_id)
                .order_by("-created", "-id")[:limit])
    rows.reverse()
    return rows


def flow_run_log_after(*, workspace, flow_run_id, cursor: LogCursor | None, limit: int) -> list[Log]:
    """Log lines received after `cursor` (all of them from the start without one), oldest first."""
    qs = Log.objects.for_workspace(workspace).filter(flow_run_id=flow_run_id)
    if cursor is not None:
        qs = qs.filter(Q(created__gt=cursor.created) | Q(created=cursor.created, id__gt=cursor.id))
    return list(qs.order_by("created", "id")[:limit])


# ---------------------------------------------------------------------------------------- flows, deployments

def _count_of(model, fk: str, workspace) -> Subquery:
    inner = (model.objects.for_workspace(workspace).filter(**{fk: OuterRef("pk")}).order_by()
             .values(fk).annotate(n=Count("id")).values("n")[:1])
    return Coalesce(Subquery(inner, output_field=IntegerField()), 0)


def flow_list(*, workspace) -> QuerySet[Flow]:
    """Flows by name, each with its number of deployments and runs (counted in the same query)."""
    return (Flow.objects.for_workspace(workspace)
            .annotate(deployment_count=_count_of(Deployment, "flow", workspace),
                      run_count=_count_of(FlowRun, "flow", workspace))
            .order_by("name"))


def flow_get(*, workspace, flow_id) -> Flow | None:
    return Flow.objects.for_workspace(workspace).filter(pk=flow_id).first()


def deployment_list(*, workspace, flow_id=None) -> list[Deployment]:
    """Deployments by flow and name with their flow, queue and pool joined and schedules batched."""
    qs = Deployment.objects.for_workspace(workspace).select_related("flow", "work_queue", "work_queue__work_pool")
    if flow_id is not None:
        qs = qs.filter(flow_id=flow_id)
    deployments = list(qs.order_by("flow__name", "name"))
    _attach_schedules(workspace, deployments)
    return deployments


def _attach_schedules(workspace, deployments: list[Deployment]) -> None:
    schedules: dict[uuid.UUID, list[DeploymentSchedule]] = {}
    for schedule in (DeploymentSchedule.objects.for_workspace(workspace)
                     .filter(deployment__in=[d.pk for d in deployments]).order_by("created")):
        schedules.setdefault(schedule.deployment_id, []).append(schedule)
    for deployment in deployments:
        deployment.schedule_list = schedules.get(deployment.pk, [])


def deployment_get(*, workspace, deployment_id) -> Deployment | None:
    """A deployment with flow, queue and pool joined and its schedules as `schedule_list`."""
    deployment = (Deployment.objects.for_workspace(workspace)
                  .select_related("flow", "work_queue", "work_queue__work_pool")
                  .filter(pk=deployment_id).first())
    if deployment is not None:
        _attach_schedules(workspace, [deployment])
    return deployment


def deployment_upcoming_runs(*, workspace, deployment: Deployment, limit: int = 10) -> list[FlowRun]:
    """The deployment's scheduled runs, soonest first."""
    return list(FlowRun.objects.for_workspace(workspace)
                .filter(deployment=deployment, state_type=StateType.SCHEDULED)
                .order_by("expected_start_time")[:limit])


def flow_run_recent(*, workspace, limit: int = 10, **filters) -> list[FlowRun]:
    """The latest runs (by expected start) among those matching `filters` (e.g. flow=…, deployment=…),
    excluding runs still scheduled."""
    return list(FlowRun.objects.for_workspace(workspace).filter(**filters)
                .exclude(state_type=StateType.SCHEDULED).select_related("flow", "deployment")
                .order_by(Coalesce("expected_start_time", "created").desc())[:limit])


# ------------------------------------------------------------------------------------ pools, queues, limits

def work_pool_get(*, workspace, work_pool_id) -> WorkPool | None:
    return WorkPool.objects.for_workspace(workspace).select_related("default_queue").filter(pk=work_pool_id).first()


def work_queue_list(*, workspace, work_pool: WorkPool, now: datetime.datetime) -> list[WorkQueue]:
    """The pool's queues by priority, each with how many runs wait in it (Scheduled or Pending), how many are
    Late, and its `status`: Paused; in an agent pool Healthy/Unhealthy (Prefect's queue health check); in a
    worker pool Ready (polled in the last minute) or Not ready."""
    waiting = (FlowRun.objects.for_workspace(workspace)
               .filter(work_queue=OuterRef("pk"), state_type__in=[StateType.SCHEDULED, StateType.PENDING])
               .order_by().values("work_queue").annotate(n=Count("id")))
    late = (FlowRun.objects.for_workspace(workspace).filter(_late(Q(work_queue=OuterRef("pk"))))
            .order_by().values("work_queue").annotate(n=Count("id")))
    queues = list(WorkQueue.objects.for_workspace(workspace).filter(work_pool=work_pool)
                  .annotate(waiting=_count(waiting), late_runs=_count(late))
                  .order_by("priority", "name"))
    for queue in queues:
        polled = bool(queue.last_polled and queue.last_polled >= now - QUEUE_POLL_TIMEOUT)
        if queue.is_paused:
            queue.status = "Paused"
        elif work_pool.type == AGENT_POOL_TYPE:
            queue.status = "Healthy" if polled and not queue.late_runs else "Unhealthy"
        else:
            queue.status = "Ready" if polled else "Not ready"
    return queues


def worker_list(*, workspace, work_pool: WorkPool) -> list[Worker]:
    return list(Worker.objects.for_workspace(workspace).filter(work_pool=work_pool).order_by("-last_heartbeat_time"))


def concurrency_limit_list(*, workspace) -> tuple[list[ConcurrencyLimit], list[ConcurrencyLimitV2]]:
    """Tag limits (v1) by tag and global limits (v2) by name."""
    return (list(ConcurrencyLimit.objects.for_workspace(workspace).order_by("tag")),
            list(ConcurrencyLimitV2.objects.for_workspace(workspace).order_by("name")))


# ------------------------------------------------------------------------------------------------- blocks

def block_type_list_with_schema(*, workspace) -> list:
    """Block types by name, each with its newest schema as `latest_schema` (two queries)."""
    from apps.engine.models import BlockSchema, BlockType

    types = list(BlockType.objects.for_workspace(workspace).order_by("name"))
    latest: dict[uuid.UUID, BlockSchema] = {}
    for schema in (BlockSchema.objects.for_workspace(workspace).filter(block_type__in=[t.pk for t in types])
                   .order_by("block_type_id", "-created").distinct("block_type_id")):
        latest[schema.block_type_id] = schema
    for block_type in types:
        block_type.latest_schema = latest.get(block_type.pk)
    return [t for t in types if t.latest_schema is not None]


def block_type_with_schema_get(*, workspace, slug: str):
    """A block type by slug with its newest schema as `latest_schema`, or None."""
    from apps.engine.models import BlockSchema, BlockType

    block_type = BlockType.objects.for_workspace(workspace).filter(slug=slug).first()
    if block_type is None:
        return None
    block_type.latest_schema = (BlockSchema.objects.for_workspace(workspace).filter(block_type=block_type)
                                .order_by("-created").first())
    return block_type if block_type.latest_schema else None


def block_reference_choices(*, workspace, schema_fields: dict, current: dict | None = None) -> dict[str, list]:
    """For each field of a block schema that holds another block (`block_schema_references`): the saved
    documents it may point at — named documents of the referenced block type(s), plus the one it points at
    now (`current`: field name → document id), which may be an anonymous one the client saved inline. One
    query for all the fields; none when the schema references no block."""
    from apps.engine.models import BlockDocument

    references = schema_fields.get("block_schema_references") or {}
    if not references:
        return {}
    slugs_by_field = {
        name: {r.get("block_type_slug") for r in (ref if isinstance(ref, list) else [ref]) if isinstance(r, dict)}
        for name, ref in references.items()
    }
    current = current or {}
    wanted = set().union(*slugs_by_field.values())
    documents = list(BlockDocument.objects.for_workspace(workspace)
                     .filter(Q(block_type__slug__in=wanted, is_anonymous=False) | Q(pk__in=list(current.values())))
                     .select_related("block_type").order_by("block_type__name", "name"))
    return {name: [d for d in documents if (d.block_type.slug in slugs and not d.is_anonymous)
                   or d.pk == current.get(name)]
            for name, slugs in slugs_by_field.items()}
