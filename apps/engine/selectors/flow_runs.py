"""Reads for flow runs, their states and their orchestration decisions."""

from __future__ import annotations

import uuid

from django.db.models import F, QuerySet
from django.db.models.functions import Coalesce

from apps.core.prepared import PreparedQuery
from apps.engine.models.runs import FlowRun, FlowRunState, OrchestrationDecision, StateType
from apps.engine.schemas.filters import page as filters_page
from apps.engine.selectors.filters import flow_runs_body_q

FLOW_RUN_SORTS = {
    "ID_DESC": (F("id").desc(),),
    "START_TIME_ASC": (Coalesce("start_time", "expected_start_time").asc(),),
    "START_TIME_DESC": (Coalesce("start_time", "expected_start_time").desc(),),
    "EXPECTED_START_TIME_ASC": (F("expected_start_time").asc(),),
    "EXPECTED_START_TIME_DESC": (F("expected_start_time").desc(),),
    "NAME_ASC": (F("name").asc(),),
    "NAME_DESC": (F("name").desc(),),
    "NEXT_SCHEDULED_START_TIME_ASC": (F("next_scheduled_start_time").asc(),),
    "END_TIME_DESC": (F("end_time").desc(),),
}
# What rendering a flow run reads besides its own row: one join, never a query per run.
FLOW_RUN_RELATED = ("state", "work_queue__work_pool")


# Compiled once per process (apps/core/prepared.py): the client reads its flow run several times per run.
_FLOW_RUN_GET = PreparedQuery(
    lambda workspace_id, flow_run_id: FlowRun.objects.by_pk_for_workspace(workspace_id, flow_run_id)
    .select_related(*FLOW_RUN_RELATED))


def flow_run_get(*, workspace, flow_run_id: uuid.UUID) -> FlowRun | None:
    """The flow run with what rendering it reads (its state, its queue and pool), or None."""
    return _FLOW_RUN_GET.one(getattr(workspace, "pk", workspace), flow_run_id)


_FLOW_RUN_ID = PreparedQuery(
    lambda workspace_id, flow_run_id: FlowRun.objects.by_pk_for_workspace(workspace_id, flow_run_id).only("id"))


def flow_run_exists(*, workspace, flow_run_id: uuid.UUID) -> bool:
    """Whether the workspace has this flow run (every task run create asks: compiled once per process)."""
    return _FLOW_RUN_ID.one(getattr(workspace, "pk", workspace), flow_run_id) is not None


# Compiled once per process (apps/core/prepared.py): the hot path's lock query, by workspace and id.
_FLOW_RUN_FOR_UPDATE = PreparedQuery(
    lambda workspace_id, flow_run_id: FlowRun.objects.by_pk_for_workspace(workspace_id, flow_run_id)
    .select_for_update(of=("self",)).select_related("state"))


# The same read without the lock, for the optimistic set_state (apps/engine/services/run_states.py), without the
# JSON columns that no flow rule, bookkeeping step or answer reads (neither sent nor decoded).
FLOW_RUN_SET_STATE_UNREAD = ("parameters", "context", "job_variables", "created_by", "tags")
_FLOW_RUN_FOR_SET_STATE = PreparedQuery(
    lambda workspace_id, flow_run_id: FlowRun.objects.by_pk_for_workspace(workspace_id, flow_run_id)
    .select_related("state").defer(*FLOW_RUN_SET_STATE_UNREAD))


def flow_run_get_for_set_state(*, workspace, flow_run_id: uuid.UUID) -> FlowRun | None:
    """The flow run with its state, unlocked: one snapshot, so the joined state is the one the run points at."""
    return _FLOW_RUN_FOR_SET_STATE.one(getattr(workspace, "pk", workspace), flow_run_id)


def flow_run_any_running(*, workspace) -> bool:
    """Whether some flow run of the workspace is Running: a run under way, which may start subflows (of
    flows the workspace has not seen yet, too) while the workspace is read-only. One index probe
    (`flow_run_state_expected`); asked only for requests a read-only workspace would otherwise refuse."""
    return FlowRun.objects.for_workspace(workspace).filter(state_type=StateType.RUNNING).exists()


def flow_run_get_for_update(*, workspace, flow_run_id: uuid.UUID) -> FlowRun | None:
    """The run row-locked (only its own row) with its current state, for orchestration."""
    run = _FLOW_RUN_FOR_UPDATE.one(getattr(workspace, "pk", workspace), flow_run_id)
    if run is not None:
        with_current_state(run, FlowRunState)
    return run


def with_current_state(run, state_model) -> None:
    """Make sure `run.state` is the row `run.state_id` names.

    When the lock had to wait for another transaction that changed the run, PostgreSQL re-reads the
    locked row but not the joined state (it was not visible when the statement began), so the join
    comes back empty: read the state on its own then (only ever under contention).
    """
    if run.state_id is not None and (run.state is None or run.state.pk != run.state_id):
        run.state = state_model.all_workspaces.get(pk=run.state_id, workspace_id=run.workspace_id)


def flow_run_list(*, workspace, body: dict, sort: str | None = "ID_DESC") -> QuerySet[FlowRun]:
    """Flow runs matching a flow_runs/filter body (flows, flow_runs, task_runs, deployments, work_pools,
    work_pool_queues), ready to render."""
    return _ordered(FlowRun.objects.for_workspace(workspace).filter(flow_runs_body_q(workspace, body)), sort)


def _ordered(qs: QuerySet[FlowRun], sort: str | None) -> QuerySet[FlowRun]:
    if sort:
        qs = qs.select_related(*FLOW_RUN_RELATED).order_by(*FLOW_RUN_SORTS[sort], F("id").desc())
    return qs


# flow_runs/filter pages of the common shape (only flow run ids and flow ids, `any_`: a worker or the UI
# reading runs by id, a flow's latest runs), compiled once per shape and process: compiling the queryset was
# about two thirds of such a request's function calls. The shape is what the SQL depends on (the sections,
# each list's length, the operators, sort, limit and offset, which Django writes into the SQL); the ids are
# its parameters. A shape PreparedQuery cannot compile (ValueError) is remembered as None: the queryset then.
_PAGE_SECTIONS = ("flow_runs", "flows")  # in sorted order
_PAGE_MAX_IDS = 20
_PAGE_SHAPES_MAX = 256
_PAGES: dict = {}


def _page_shape(body: dict):
    """(shape, ids) of a validated (plain) flow_runs/filter body of the common shape, else None."""
    shape = []
    for key, value in body.items():
        if key in ("sort", "limit", "offset"):
            continue
        if key not in _PAGE_SECTIONS or not isinstance(value, dict) or set(value) - {"operator", "id"}:
            return None
        f = value.get("id")
        if not isinstance(f, dict) or set(f) != {"any_"} or not 0 < len(f["any_"]) <= _PAGE_MAX_IDS:
            return None
        shape.append((key, value.get("operator"), len(f["any_"])))
    if body.get("limit") == 0:
        return None
    shape.sort()  # by section: the order of `_PAGE_SECTIONS`, which `build` follows
    ids = [i for key, _, _ in shape for i in body[key]["id"]["any_"]]
    return (tuple(shape), body.get("sort", "ID_DESC"), body.get("limit"), body.get("offset") or 0), ids


def _page_query(shape) -> PreparedQuery:
    sections, sort, limit, offset = shape
    page = filters_page({"limit": limit, "offset": offset})

    def build(workspace_id, *ids):
        body, start = {}, 0
        for key, operator, n in sections:
            body[key] = {"operator": operator, "id": {"any_": list(ids[start:start + n])}}
            start += n
        # flow_run_list's rows and order. A page of runs by ids writes the workspace condition so that no index
        # serves it: its generic plan finds the runs by the primary key, never by an index leading with
        # workspace_id with the ids as a filter over the whole workspace (docs/performance.md, "branch plans").
        # A flow's page keeps `workspace_id =`: the indexes on (workspace, flow, sort column) serve its order
        # and stop at the limit; without them it read and sorted every run of a big flow (37.5 ms against
        # 0.05 ms for 100,000 runs by expected start time).
        scoped = (FlowRun.objects.for_workspace_unindexed if "flow_runs" in body else FlowRun.objects.for_workspace)
        return _ordered(scoped(workspace_id).filter(flow_runs_body_q(workspace_id, body)), sort)[page]

    return PreparedQuery(build)


def flow_run_page(*, workspace, body: dict) -> list[FlowRun]:
    """The runs of a validated flow_runs/filter body's page, as `flow_run_list(...)[page(body)]` reads them
    (with their state and work queue and pool): by a query compiled once per shape for the common bodies
    (only flow run and flow ids), else by the queryset."""
    found = _page_shape(body)
    if found is not None:
        shape, ids = found
        query = _PAGES.get(shape, _PAGES)
        if query is _PAGES and len(_PAGES) < _PAGE_SHAPES_MAX:
            query = _PAGES[shape] = _page_query(shape)
        if query is not None and query is not _PAGES:
            try:
                return query.all(getattr(workspace, "pk", workspace), *ids)
            except ValueError:  # the shape does not compile to parameters (PreparedQuery): not again
                _PAGES[shape] = None
    return list(flow_run_list(workspace=workspace, body=body, sort=body.get("sort", "ID_DESC"))[filters_page(body)])


def flow_run_state_get(*, workspace, state_id: uuid.UUID) -> FlowRunState | None:
    return FlowRunState.objects.for_workspace(workspace).filter(pk=state_id).first()


def flow_run_state_list(*, workspace, flow_run_id: uuid.UUID) -> QuerySet[FlowRunState]:
    """A run's state history, oldest first."""
    return FlowRunState.objects.for_workspace(workspace).filter(flow_run_id=flow_run_id).order_by("timestamp", "id")


def flow_run_decision_list(*, workspace, flow_run_id: uuid.UUID) -> QuerySet[OrchestrationDecision]:
    """Every orchestration decision on a flow run, oldest first."""
    return (OrchestrationDecision.objects.for_workspace(workspace).filter(flow_run_id=flow_run_id)
            .order_by("created", "id"))
