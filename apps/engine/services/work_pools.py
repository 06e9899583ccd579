"""Writes for work pools, their queues and workers: pools with a default queue, queue priorities kept dense,
pause and concurrency limits, worker heartbeats and the `last_polled` marks that polling leaves.

Names are unique per workspace (pools) and per pool (queues). The agent-era queues of `work_queues/`
live in the pool `default-agent-pool`, created on first use, as Prefect does.
"""

from __future__ import annotations

import datetime
import uuid

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.errors import Conflict, Invalid, NotFound, PermissionDenied
from apps.engine.models import Deployment, Worker, WorkPool, WorkQueue
from apps.engine.models.deployments import DEFAULT_AGENT_POOL_NAME, DEFAULT_QUEUE_NAME
from apps.engine.selectors.work_pools import work_pool_id_get
from apps.engine.services.job_variables import work_pool_defaults_validate

DEFAULT_QUEUE_DESCRIPTION = "The work pool's default queue."


def pool_not_found(name: str) -> NotFound:
    return NotFound(f'Work pool "{name}" not found.')


def _reserved(name: str, what: str) -> None:
    if name.lower().startswith("prefect"):
        raise PermissionDenied(f"Work pools starting with 'Prefect' are reserved for internal use{what}.",
                               code="reserved_name")


def _pool_insert(*, workspace, name: str, type: str, description: str | None, base_job_template: dict,
                 is_paused: bool, concurrency_limit: int | None) -> WorkPool:
    pool = WorkPool.objects.for_workspace(workspace).create(
        workspace=workspace, name=name, type=type, description=description, base_job_template=base_job_template,
        is_paused=is_paused, concurrency_limit=concurrency_limit,
    )
    queue = WorkQueue.objects.for_workspace(workspace).create(
        workspace=workspace, work_pool=pool, name=DEFAULT_QUEUE_NAME, description=DEFAULT_QUEUE_DESCRIPTION,
        priority=1,
    )
    pool.default_queue = queue
    pool.save(update_fields=["default_queue"])
    return pool


def work_pool_create(*, workspace, name: str, type: str = "prefect-agent", description: str | None = None,
                     base_job_template: dict | None = None, is_paused: bool = False,
                     concurrency_limit: int | None = None, actor=None) -> WorkPool:
    """Create a pool and its queue `default` (priority 1). A taken name is 409; 'Prefect…' names are reserved."""
    if not name.strip():
        raise Invalid("Work pool name cannot be empty.", loc=["body", "name"])
    if "/" in name or "%" in name:
        raise Invalid("Work pool names may not contain '/' or '%'.", loc=["body", "name"])
    _reserved(name, "")
    _check_job_template(base_job_template or {})
    work_pool_defaults_validate(workspace=workspace, base_job_template=base_job_template or {})
    try:
        with transaction.atomic():
            return _pool_insert(workspace=workspace, name=name, type=type, description=description,
                                base_job_template=base_job_template or {}, is_paused=is_paused,
                                concurrency_limit=concurrency_limit)
    except IntegrityError:
        raise Conflict("A work pool with this name already exists.", code="work_pool_name_taken") from None


def _check_job_template(template: dict) -> None:
    """A base job template, when given, has a `job_configuration` and a JSON-Schema `variables` object."""
    if not template:
        return
    unknown = set(template) - {"job_configuration", "variables"}
    if unknown or not isinstance(template.get("job_configuration", {}), dict) or not isinstance(
            template.get("variables", {}), dict):
        raise Invalid("The base job template must be an object with `job_configuration` and `variables` objects.",
                      loc=["body", "base_job_template"])


def work_pool_get_or_create_default_agent_pool(*, workspace) -> WorkPool:
    """The pool agent-era queues live in; created with its `default` queue the first time it is needed.

    Two concurrent first calls race on the unique name: the loser reads the winner's pool.
    """
    scoped = WorkPool.objects.for_workspace(workspace)
    pool = scoped.filter(name=DEFAULT_AGENT_POOL_NAME).first()
    if pool is not None:
        return pool
    try:
        with transaction.atomic():
            return _pool_insert(workspace=workspace, name=DEFAULT_AGENT_POOL_NAME, type="prefect-agent",
                                description="The default work pool for agents.", base_job_template={},
                                is_paused=False, concurrency_limit=None)
    except IntegrityError:
        return scoped.get(name=DEFAULT_AGENT_POOL_NAME)


def _pool_for_update(workspace, name: str) -> WorkPool:
    pool = WorkPool.objects.for_workspace(workspace).select_for_update().filter(name=name).first()
    if pool is None:
        raise pool_not_found(name)
    return pool


@transaction.atomic
def work_pool_update(*, workspace, name: str, changes: dict, actor=None) -> WorkPool:
    """Change description, pause, base job template or concurrency limit; 'Prefect…' pools only pause."""
    if name.lower().startswith("prefect") and set(changes) - {"is_paused", "concurrency_limit"}:
        _reserved(name, " and can only be paused, resumed, or have their concurrency limited")
    if "base_job_template" in changes:
        changes["base_job_template"] = changes["base_job_template"] or {}
        _check_job_template(changes["base_job_template"])
        work_pool_defaults_validate(workspace=workspace, base_job_template=changes["base_job_template"])
    if changes.get("is_paused") is None:
        changes.pop("is_paused", None)
    pool = _pool_for_update(workspace, name)
    for field, value in changes.items():
        setattr(pool, field, value)
    pool.save(update_fields=[*changes, "updated"])
    return pool


@transaction.atomic
def work_pool_delete(*, workspace, name: str, actor=None) -> None:
    """Delete a pool with its queues and workers; deployments that pointed at its queues keep no queue."""
    _reserved(name, " and cannot be deleted")
    pool = _pool_for_update(workspace, name)
    pool.delete()


# --- queues ---------------------------------------------------------------------------------------------

def _queue_not_found(pool_name: str, queue_name: str) -> NotFound:
    return NotFound(f"Work pool queue '{pool_name}/{queue_name}' not found.")


def _reorder(pool: WorkPool, queue: WorkQueue, priority: int | None) -> None:
    """Give `queue` the priority asked for (or the lowest, last) and shift the others so priorities stay
    1..n without gaps or ties, as Prefect's bulk priority update does. Caller holds the pool's row lock."""
    others = list(pool.queues.exclude(pk=queue.pk).order_by("priority", "created", "id"))
    position = len(others) + 1 if priority is None else max(1, min(priority, len(others) + 1))
    ordered = [*others[: position - 1], queue, *others[position - 1:]]
    changed = []
    for index, item in enumerate(ordered, start=1):
        if item.priority != index:
            item.priority = index
            changed.append(item)
    if changed:
        WorkQueue.all_workspaces.bulk_update([q for q in changed if q.pk], ["priority"])


def work_queue_create(*, workspace, pool: WorkPool, name: str, description: str | None = "",
                      is_paused: bool = False, concurrency_limit: int | None = None, priority: int | None = None,
                      filter: dict | None = None, actor=None) -> WorkQueue:
    """Create a queue in `pool`; a priority inserts it there and pushes the others down. Taken name → 409."""
    if not name.strip() or "/" in name or "%" in name:
        raise Invalid("Work queue names must be non-empty and may not contain '/' or '%'.", loc=["body", "name"])
    try:
        with transaction.atomic():
            WorkPool.objects.for_workspace(workspace).select_for_update().filter(pk=pool.pk).first()
            queue = WorkQueue.objects.for_workspace(workspace).create(
                workspace=workspace, work_pool=pool, name=name, description=description or "", is_paused=is_paused,
                concurrency_limit=concurrency_limit, priority=pool.queues.count() + 1, filter=filter,
            )
            _reorder(pool, queue, priority)
            queue.save(update_fields=["priority"])
    except IntegrityError:
        raise Conflict(f"A work queue named {name!r} already exists in work pool {pool.name!r}.",
                       code="work_queue_name_taken") from None
    queue.work_pool = pool
    return queue


@transaction.atomic
def work_queue_update(*, workspace, queue_id: uuid.UUID, changes: dict, actor=None) -> WorkQueue:
    """Rename, describe, pause, limit or re-prioritise a queue; priorities of the pool's queues stay 1..n."""
    queue = WorkQueue.objects.for_workspace(workspace).select_related("work_pool").filter(pk=queue_id).first()
    if queue is None:
        raise NotFound("Work queue not found.")
    pool = WorkPool.objects.for_workspace(workspace).select_for_update().get(pk=queue.work_pool_id)
    queue = WorkQueue.objects.for_workspace(workspace).select_for_update().get(pk=queue_id)
    priority = changes.pop("priority", None) if "priority" in changes else None
    for field, value in changes.items():
        setattr(queue, field, value)
    try:
        with transaction.atomic():
            queue.save(update_fields=[*changes, "updated"])
            if priority is not None:
                _reorder(pool, queue, priority)
                queue.save(update_fields=["priority"])
    except IntegrityError:
        raise Conflict(f"A work queue named {changes.get('name')!r} already exists in work pool {pool.name!r}.",
                       code="work_queue_name_taken") from None
    if "name" in changes:
        # runs and deployments carry the queue's name denormalised, as Prefect's do
        Deployment.objects.for_workspace(workspace).filter(work_queue=queue).update(work_queue_name=queue.name)
    queue.work_pool = pool
    return queue


@transaction.atomic
def work_queue_delete(*, workspace, queue_id: uuid.UUID, actor=None) -> None:
    """Delete a queue; a pool's default queue cannot be deleted (409). Remaining priorities close up."""
    queue = WorkQueue.objects.for_workspace(workspace).filter(pk=queue_id).first()
    if queue is None:
        raise NotFound("Work queue not found.")
    pool = WorkPool.objects.for_workspace(workspace).select_for_update().get(pk=queue.work_pool_id)
    if pool.default_queue_id == queue.pk:
        raise Conflict("A work pool's default queue cannot be deleted.", code="default_queue")
    queue.delete()
    remaining = list(pool.queues.order_by("priority", "created", "id"))
    for index, item in enumerate(remaining, start=1):
        item.priority = index
    WorkQueue.all_workspaces.bulk_update(remaining, ["priority"])


def work_queue_get_or_create(*, workspace, pool: WorkPool, name: str, actor=None) -> WorkQueue:
    """The queue `name` of `pool`, created (lowest priority) if missing; safe against a concurrent creator."""
    queue = WorkQueue.objects.for_workspace(workspace).filter(work_pool=pool, name=name).first()
    if queue is not None:
        queue.work_pool = pool
        return queue
    try:
        return work_queue_create(workspace=workspace, pool=pool, name=name, actor=actor)
    except Conflict:
        queue = WorkQueue.objects.for_workspace(workspace).get(work_pool=pool, name=name)
        queue.work_pool = pool
        return queue


def work_queue_resolve(*, workspace, work_pool_name: str | None, work_queue_name: str | None,
                       actor=None) -> WorkQueue | None:
    """Where a deployment's runs go, as Prefect resolves it: pool + queue (queue created if missing), pool
    alone (its default queue), queue alone (in the default agent pool, created if missing), or nowhere."""
    if work_pool_name:
        pool = WorkPool.objects.for_workspace(workspace).filter(name=work_pool_name).first()
        if pool is None:
            if work_pool_name != DEFAULT_AGENT_POOL_NAME:
                raise pool_not_found(work_pool_name)
            pool = work_pool_get_or_create_default_agent_pool(workspace=workspace)
        if work_queue_name:
            return work_queue_get_or_create(workspace=workspace, pool=pool, name=work_queue_name, actor=actor)
        queue = WorkQueue.objects.for_workspace(workspace).filter(pk=pool.default_queue_id).first()
        if queue is not None:
            queue.work_pool = pool
        return queue
    if work_queue_name:
        pool = work_pool_get_or_create_default_agent_pool(workspace=workspace)
        return work_queue_get_or_create(workspace=workspace, pool=pool, name=work_queue_name, actor=actor)
    return None


# --- workers and polls ----------------------------------------------------------------------------------

def worker_heartbeat(*, workspace, pool_name: str, name: str, heartbeat_interval_seconds: int | None) -> None:
    """Record that a worker is alive: one upsert keyed by (pool, name); concurrent heartbeats are harmless."""
    pool_id = work_pool_id_get(workspace=workspace, name=pool_name)
    if pool_id is None:
        raise pool_not_found(pool_name)
    now = timezone.now()
    Worker.all_workspaces.bulk_create(
        [Worker(workspace_id=workspace.pk, work_pool_id=pool_id, name=name, last_heartbeat_time=now,
                heartbeat_interval_seconds=heartbeat_interval_seconds)],
        update_conflicts=True, unique_fields=["work_pool", "name"],
        update_fields=["last_heartbeat_time", "heartbeat_interval_seconds", "updated"],
    )


def worker_delete(*, workspace, pool_name: str, name: str, actor=None) -> None:
    deleted, _ = Worker.objects.for_workspace(workspace).filter(work_pool__name=pool_name, name=name).delete()
    if not deleted:
        raise NotFound("Worker not found.")


# Polls come constantly: `last_polled` is rewritten only when older than this, which spares most polls
# three writes (statuses look 60 s back, so a few seconds of resolution changes nothing).
POLL_MARK_RESOLUTION = datetime.timedelta(seconds=5)


def polled_mark(*, workspace, pools=(), queues=(), deployment_ids=()) -> None:
    """Stamp `last_polled` on the pools and queues (loaded rows) a worker or agent just polled, and on the
    deployments of those queues (or the given deployment ids): READY/NOT_READY is computed from it.

    Rows whose mark is fresher than POLL_MARK_RESOLUTION are not written; a queue's deployments are
    stamped when the queue is. Each UPDATE also re-checks staleness, so concurrent polls write once.
    """
    now = timezone.now()
    stale = now - POLL_MARK_RESOLUTION

    def due(rows):
        return [row.pk for row in rows if row.last_polled is None or row.last_polled <= stale]

    def stamp(model, **filters):
        (model.objects.for_workspace(workspace).filter(**filters)
         .exclude(last_polled__gt=stale).update(last_polled=now))

    if pool_ids := due(pools):
        stamp(WorkPool, pk__in=pool_ids)
    if queue_ids := due(queues):
        stamp(WorkQueue, pk__in=queue_ids)
        stamp(Deployment, work_queue_id__in=queue_ids)
    if deployment_ids:
        stamp(Deployment, pk__in=list(deployment_ids))
