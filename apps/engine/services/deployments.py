"""Writes for deployments: upsert by (flow, name), update, pause, schedules, and the flow runs a deployment
creates, by hand (`create_flow_run`) or by its schedules (`deployment_schedule_runs`, used by the scheduler).

Scheduled runs carry Prefect's idempotency key `scheduled {deployment_id} {time}`; they are inserted with
ON CONFLICT DO NOTHING against FlowRun's unique (workspace, flow, idempotency_key), so any number of
concurrent schedulers create each (deployment, time) run exactly once, ever.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

import jsonschema
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.core.errors import Conflict, Invalid, NotFound
from apps.engine.models import BlockDocument, Deployment, DeploymentSchedule, Flow, FlowRun, FlowRunState, StateType
from apps.engine.schemas.states import details_json
from apps.engine.services.hydration import HydrationError, HydrationFailed, hydrate
from apps.engine.services.job_variables import job_variables_validate
from apps.engine.services.json_schema import UNUSABLE_SCHEMA_ERRORS, unusable_schema_reason, without_required
from apps.engine.services.names import run_name
from apps.engine.services.schedules import schedule_dates
from apps.engine.services.work_pools import work_queue_get_or_create, work_queue_resolve

DEPLOYMENT_NOT_FOUND = "Deployment not found."
# Field names of the model a create/update may set directly (the rest is resolved: queue, schedules, ...).
_PLAIN_FIELDS = ("version", "description", "parameters", "tags", "path", "entrypoint", "manifest_path",
                 "storage_document_id", "infrastructure_document_id", "parameter_openapi_schema", "pull_steps",
                 "enforce_parameter_schema", "job_variables")


def deployment_not_found() -> NotFound:
    return NotFound(DEPLOYMENT_NOT_FOUND)


def _check_blocks(workspace, data: dict) -> None:
    """Referenced storage/infrastructure documents must exist in this workspace (Prefect answers 409)."""
    for field, what in (("infrastructure_document_id", "infrastructure"), ("storage_document_id", "storage")):
        doc_id = data.get(field)
        if doc_id and not BlockDocument.objects.for_workspace(workspace).filter(pk=doc_id).exists():
            raise Conflict(
                f"Error creating deployment. Could not find {what} block with id: {doc_id}. This usually occurs "
                "when applying a deployment specification that was built against a different Prefect database "
                "/ workspace.", code="block_not_found")


def _normalise_paused(data: dict) -> None:
    """`paused` and the legacy `is_schedule_active` are one fact; `paused` wins when both are sent."""
    if "paused" in data:
        data["is_schedule_active"] = not data["paused"]
    elif "is_schedule_active" in data:
        data["paused"] = not data["is_schedule_active"]


def _schedules_from(data: dict) -> list[dict] | None:
    """The schedules a write asks for: `schedules`, else the legacy single `schedule`; None = leave as is."""
    if data.get("schedules"):
        return list(data["schedules"])
    if data.get("schedule") is not None:
        return [{"schedule": data["schedule"], "active": data.get("is_schedule_active", True)}]
    if "schedules" in data or "schedule" in data:
        return []
    return None


def _replace_schedules(workspace, deployment: Deployment, schedules: list[dict]) -> None:
    DeploymentSchedule.objects.for_workspace(workspace).filter(deployment=deployment).delete()
    DeploymentSchedule.all_workspaces.bulk_create([
        DeploymentSchedule(workspace=workspace, deployment=deployment, schedule=s["schedule"],
                           active=s.get("active", True), max_active_runs=s.get("max_active_runs"),
                           max_scheduled_runs=s.get("max_scheduled_runs"), catchup=s.get("catchup", False))
        for s in schedules
    ])


def _delete_auto_scheduled_runs(workspace, deployment_id) -> None:
    """Runs the scheduler made that have not started: removed whenever the deployment or its schedules change,
    so future runs follow the new definition (the scheduler makes them again)."""
    FlowRun.objects.for_workspace(workspace).filter(
        deployment_id=deployment_id, state_type=StateType.SCHEDULED, auto_scheduled=True,
    ).delete()


def deployment_upsert(*, workspace, data: dict, actor=None, created_by: dict | None = None) -> tuple[Deployment, bool]:
    """Create the deployment (flow_id, name) or, if it exists, update it with the fields sent: returns
    (deployment, created). Replaces its schedules and drops its not-yet-started auto-scheduled runs.

    Bad references (flow, pool, blocks) change nothing. Two concurrent upserts of one name both succeed:
    the loser of the insert race updates the winner's row.
    """
    data = dict(data)
    if "infra_overrides" in data:
        data.setdefault("job_variables", data.pop("infra_overrides"))
    if data.get("job_variables") is None:
        data.pop("job_variables", None)
    _normalise_paused(data)
    flow = Flow.objects.for_workspace(workspace).filter(pk=data["flow_id"]).first()
    if flow is None:
        raise NotFound("Flow not found.")
    _check_blocks(workspace, data)
    schedules = _schedules_from(data) or []
    with transaction.atomic():
        queue = work_queue_resolve(workspace=workspace, work_pool_name=data.get("work_pool_name"),
                                   work_queue_name=data.get("work_queue_name"), actor=actor)
        if data.get("job_variables") and queue is not None:
            job_variables_validate(workspace=workspace, pool=queue.work_pool, layers=[data["job_variables"]],
                                   require=False, action="Error creating deployment")
        values = {f: data[f] for f in _PLAIN_FIELDS if f in data}
        values.update(work_queue=queue, work_queue_name=queue.name if queue else data.get("work_queue_name"))
        if "paused" in data:
            values["paused"] = data["paused"]
        scoped = Deployment.objects.for_workspace(workspace)
        deployment = scoped.select_for_update().filter(flow=flow, name=data["name"]).first()
        created = deployment is None
        if created:
            try:
                with transaction.atomic():
                    deployment = scoped.create(workspace=workspace, flow=flow, name=data["name"],
                                               created_by=created_by, updated_by=created_by, **values)
            except IntegrityError:
                created = False
                deployment = scoped.select_for_update().get(flow=flow, name=data["name"])
        if not created:
            for field, value in values.items():
                setattr(deployment, field, value)
            deployment.updated_by = created_by
            deployment.save()
            _delete_auto_scheduled_runs(workspace, deployment.pk)
        _replace_schedules(workspace, deployment, schedules)
    return deployment, created


def _for_update(workspace, deployment_id) -> Deployment:
    deployment = (Deployment.objects.for_workspace(workspace).select_for_update()
                  .filter(pk=deployment_id).first())
    if deployment is None:
        raise deployment_not_found()
    return deployment


def _hydrated_parameters(workspace, parameters: dict, *, what: str) -> dict:
    """`parameters` with their `__prefect_kind` values hydrated; a failure is 2.20's 400 ("Error hydrating
    {what} parameters: <reason>"). Parameters that are themselves one `__prefect_kind` object must still come
    out an object (2.20 would store whatever they became, which no client can read back)."""
    try:
        hydrated = hydrate(parameters, workspace=workspace)
    except HydrationError as exc:
        raise HydrationFailed(f"Error hydrating {what} parameters: {exc}") from None
    if not isinstance(hydrated, dict):
        raise HydrationFailed(f"Error hydrating {what} parameters: the parameters must be an object, not "
                              f"{type(hydrated).__name__}")
    return hydrated


def _into_optional(errors) -> list:
    """Replace each failure of an Optional value (an `anyOf` of one schema and null, as pydantic writes
    `X | None`) that is not null by the failures inside that one schema, so each is located at the field
    that failed ("sink.table is too short") rather than at the whole object ("not valid under any")."""
    out = []
    for error in errors:
        options = error.schema.get("anyOf") if error.validator == "anyOf" else None
        branches = [n for n, o in enumerate(options or []) if not (isinstance(o, dict) and o.get("type") == "null")]
        if error.instance is not None and len(branches) == 1 and len(options) == 2 and error.context:
            inner = [e for e in error.context if e.relative_schema_path and e.relative_schema_path[0] == branches[0]]
            if inner:
                out.extend(_into_optional(inner))
                continue
        out.append(error)
    return out


def parameters_validate(parameters: dict, schema, *, loc: list, ignore_required: bool = False,
                        into_optional: bool = False) -> None:
    """Check run parameters against the deployment's JSON Schema (Draft 2020-12, as Prefect): each failure
    is one entry of a 422, located at the parameter that failed. `into_optional` (the browser's form, which
    puts each failure on its field) locates failures inside Optional objects at their field; the API keeps
    the failures as jsonschema reports them."""
    if not isinstance(schema, dict):
        raise Invalid("Parameter schema enforcement is enabled but the deployment has no valid parameter schema.",
                      loc=loc, code="no_parameter_schema")
    if ignore_required:
        schema = without_required(schema)
    try:
        validator = jsonschema.Draft202012Validator(schema)
        errors = list(validator.iter_errors(parameters))
        errors = sorted(_into_optional(errors) if into_optional else errors, key=lambda e: list(e.absolute_path))
    except jsonschema.SchemaError as exc:
        raise Invalid(f"Invalid parameter schema: {exc}", loc=loc, code="invalid_parameter_schema") from None
    except UNUSABLE_SCHEMA_ERRORS as exc:
        reason = unusable_schema_reason(exc).removeprefix("Invalid schema: ")
        raise Invalid(f"Invalid parameter schema: {reason}", loc=loc, code="invalid_parameter_schema") from None
    if errors:
        raise ParametersInvalid([
            {"loc": [*loc, *error.absolute_path],
             "msg": (f"Validation failed for field {'.'.join(map(str, error.absolute_path))!r}. "
                     if error.absolute_path else "Validation failed. ") + f"Failure reason: {error.message}",
             "type": "value_error.parameters"}
            for error in errors
        ])


class ParametersInvalid(Invalid):
    """Parameters that fail the deployment's schema: rendered as a 422 listing every failure."""

    def __init__(self, errors: list[dict]):
        super().__init__(errors[0]["msg"], loc=errors[0]["loc"], code="parameters")
        self.errors = errors


def deployment_update(*, workspace, deployment_id: uuid.UUID, data: dict, actor=None) -> Deployment:
    """Apply a DeploymentUpdate: only the fields sent change. Setting the legacy `schedule` replaces the single
    schedule (422 if the deployment has several); new parameters are hydrated (`__prefect_kind` values, 400
    when one fails) and, with schema enforcement, must then fit the schema."""
    data = dict(data)
    if "infra_overrides" in data:
        data.setdefault("job_variables", data.pop("infra_overrides"))
    if "job_variables" in data and data["job_variables"] is None:
        data["job_variables"] = {}
    _check_blocks(workspace, data)
    with transaction.atomic():
        deployment = _for_update(workspace, deployment_id)
        existing = list(deployment.schedules.order_by("created", "id"))
        schedules = None
        if data.get("schedules"):
            schedules = list(data["schedules"])
        elif "schedule" in data or "is_schedule_active" in data:
            if len(existing) > 1:
                raise Invalid(f"Error updating deployment: Deployment '{deployment_id}' has multiple schedules. "
                              "Please use the UI or update your client to adjust this deployment's schedules.",
                              loc=["body", "schedule"], code="multiple_schedules")
            schedule = data["schedule"] if "schedule" in data else (existing[0].schedule if existing else None)
            active = data.get("is_schedule_active", existing[0].active if existing else True)
            schedules = [{"schedule": schedule, "active": active}] if schedule is not None else []
        _normalise_paused(data)
        if data.get("parameters") is not None:
            data["parameters"] = _hydrated_parameters(workspace, data["parameters"], what="deployment")
        enforce = data.get("enforce_parameter_schema")
        if enforce is None:
            enforce = deployment.enforce_parameter_schema
        if enforce and "parameters" in data:
            parameters_validate(data["parameters"], deployment.parameter_openapi_schema,
                                loc=["body", "parameters"], ignore_required=True)
        if "work_pool_name" in data or "work_queue_name" in data:
            pool_name = data.get("work_pool_name") or (
                deployment.work_queue.work_pool.name if deployment.work_queue_id and "work_pool_name" not in data
                else None)
            queue = work_queue_resolve(workspace=workspace, work_pool_name=pool_name,
                                       work_queue_name=data.get("work_queue_name", deployment.work_queue_name),
                                       actor=actor)
            deployment.work_queue = queue
            deployment.work_queue_name = queue.name if queue else data.get("work_queue_name")
        if ("job_variables" in data or "work_pool_name" in data) and deployment.work_queue is not None:
            job_variables_validate(workspace=workspace, pool=deployment.work_queue.work_pool,
                                   layers=[data.get("job_variables", deployment.job_variables)], require=False,
                                   action="Error updating deployment")
        for field in _PLAIN_FIELDS:
            if field in data and not (field == "enforce_parameter_schema" and data[field] is None):
                setattr(deployment, field, data[field])
        if "paused" in data:
            deployment.paused = data["paused"]
        deployment.save()
        if schedules is not None:
            _replace_schedules(workspace, deployment, schedules)
        _delete_auto_scheduled_runs(workspace, deployment.pk)
    return deployment


def deployment_delete(*, workspace, deployment_id: uuid.UUID, actor=None) -> None:
    """Delete a deployment and its schedules; runs it made keep existing (their `deployment` becomes null),
    except the auto-scheduled ones that have not started."""
    with transaction.atomic():
        deployment = _for_update(workspace, deployment_id)
        _delete_auto_scheduled_runs(workspace, deployment.pk)
        deployment.delete()


def deployment_set_paused(*, workspace, deployment_id: uuid.UUID, paused: bool, actor=None) -> None:
    """Pause (or resume) a deployment's schedules. Pausing drops its auto-scheduled runs that have not
    started; a single schedule follows the deployment (the legacy clients' view); several → 422."""
    with transaction.atomic():
        deployment = _for_update(workspace, deployment_id)
        schedules = list(deployment.schedules.all())
        if len(schedules) > 1:
            raise Invalid(f"Error updating deployment: Deployment '{deployment_id}' has multiple schedules. "
                          "Please use the UI or update your client to adjust this deployment's schedules.",
                          loc=["path", "id"], code="multiple_schedules")
        deployment.paused = paused
        deployment.save(update_fields=["paused", "updated"])
        if schedules:
            schedules[0].active = not paused
            schedules[0].save(update_fields=["active", "updated"])
        if paused:
            _delete_auto_scheduled_runs(workspace, deployment.pk)


def deployment_schedules_create(*, workspace, deployment_id: uuid.UUID, schedules: list[dict],
                                actor=None) -> list[DeploymentSchedule]:
    """Add schedules to a deployment; the scheduler picks them up on its next pass."""
    with transaction.atomic():
        deployment = _for_update(workspace, deployment_id)
        return DeploymentSchedule.all_workspaces.bulk_create([
            DeploymentSchedule(workspace=workspace, deployment=deployment, schedule=s["schedule"],
                               active=s.get("active", True), max_active_runs=s.get("max_active_runs"),
                               max_scheduled_runs=s.get("max_scheduled_runs"), catchup=s.get("catchup", False))
            for s in schedules
        ])


def deployment_schedule_update(*, workspace, deployment_id: uuid.UUID, schedule_id: uuid.UUID, changes: dict,
                               actor=None) -> DeploymentSchedule:
    """Change one schedule (active, the schedule itself, limits); its not-yet-started runs are remade."""
    with transaction.atomic():
        deployment = _for_update(workspace, deployment_id)
        schedule = deployment.schedules.select_for_update().filter(pk=schedule_id).first()
        if schedule is None:
            raise NotFound("Schedule not found.")
        for field, value in changes.items():
            setattr(schedule, field, value)
        schedule.save(update_fields=[*changes, "updated"])
        _delete_auto_scheduled_runs(workspace, deployment.pk)
    return schedule


def deployment_schedule_delete(*, workspace, deployment_id: uuid.UUID, schedule_id: uuid.UUID, actor=None) -> None:
    with transaction.atomic():
        deployment = _for_update(workspace, deployment_id)
        deleted, _ = deployment.schedules.filter(pk=schedule_id).delete()
        if not deleted:
            raise NotFound("Schedule not found.")
        _delete_auto_scheduled_runs(workspace, deployment.pk)


# --- flow runs from deployments --------------------------------------------------------------------------

@dataclass
class NewRun:
    """A flow run to insert in a Scheduled state (from a schedule or from create_flow_run)."""

    scheduled_time: datetime.datetime
    idempotency_key: str | None
    parameters: dict
    tags: list
    auto_scheduled: bool
    name: str | None = None
    context: dict | None = None
    empirical_policy: dict | None = None
    parent_task_run_id: uuid.UUID | None = None
    infrastructure_document_id: uuid.UUID | None = None
    job_variables: dict | None = None
    work_queue_id: uuid.UUID | None = None
    work_queue_name: str | None = None
    state_name: str = "Scheduled"
    state_message: str | None = None
    created_by: dict | None = None


def flow_runs_insert_scheduled(*, workspace, deployment: Deployment, runs: list[NewRun]) -> list[uuid.UUID]:
    """Insert Scheduled runs of `deployment`, skipping any whose idempotency key the flow already has.
    Returns the ids actually inserted. Three statements whatever the batch size; call inside a transaction.

    ON CONFLICT DO NOTHING makes a concurrent scheduler wait for the other's commit on the unique index and
    then skip: a (deployment, time) run is never created twice.
    """
    if not runs:
        return []
    now = timezone.now()
    rows, states = [], {}
    for run in runs:
        run_id, state_id = uuid.uuid4(), uuid.uuid4()
        rows.append(FlowRun(
            id=run_id, workspace_id=workspace.pk, flow_id=deployment.flow_id, deployment_id=deployment.pk,
            deployment_version=deployment.version, name=run.name or run_name(),
            work_queue_id=run.work_queue_id if run.work_queue_id else deployment.work_queue_id,
            work_queue_name=run.work_queue_name or deployment.work_queue_name,
            parameters=run.parameters, idempotency_key=run.idempotency_key, context=run.context or {},
            empirical_policy=run.empirical_policy or {}, tags=run.tags, auto_scheduled=run.auto_scheduled,
            parent_task_run_id=run.parent_task_run_id,
            infrastructure_document_id=run.infrastructure_document_id or deployment.infrastructure_document_id,
            job_variables=run.job_variables or {}, created_by=run.created_by,
            state_id=state_id, state_type=StateType.SCHEDULED, state_name=run.state_name, state_timestamp=now,
            expected_start_time=run.scheduled_time, next_scheduled_start_time=run.scheduled_time,
        ))
        states[run_id] = FlowRunState(
            id=state_id, workspace_id=workspace.pk, flow_run_id=run_id, type=StateType.SCHEDULED,
            name=run.state_name, timestamp=now, message=run.state_message,
            state_details=details_json({"flow_run_id": run_id, "scheduled_time": run.scheduled_time}),
        )
    # FlowRun.state references a state row written just after: PostgreSQL checks the deferred FK at commit.
    FlowRun.all_workspaces.bulk_create(rows, ignore_conflicts=True)
    inserted = list(FlowRun.objects.for_workspace(workspace).filter(pk__in=list(states)).values_list("pk", flat=True))
    FlowRunState.all_workspaces.bulk_create([states[pk] for pk in inserted])
    return inserted


def deployment_create_flow_run(*, workspace, deployment_id: uuid.UUID, data: dict, actor=None,
                               created_by: dict | None = None, check_parameters: bool = False) -> tuple[FlowRun, bool]:
    """Create a run of the deployment: its parameters merged with those given, then hydrated (`__prefect_kind`
    values; 400 when one fails) and validated against its schema when enforced (422 listing each failure);
    its tags plus those given, in a Scheduled state (now, or the `scheduled_time` of the state sent), in its
    work queue or the named queue of its pool.

    `check_parameters`: validate the parameters against the deployment's schema (when it has one) even if the
    deployment does not enforce it. The browser's run form asks for it: a person typing parameters gets each
    mistake on its field rather than a run that fails in the worker; the API keeps Prefect's rule.

    An idempotency key the flow already used returns that run instead: (run, created) tells which.
    """
    state = data.get("state") or {}
    if state and state.get("type") != StateType.SCHEDULED:
        raise Invalid("A run created from a deployment starts Scheduled; propose other states with set_state.",
                      loc=["body", "state", "type"], code="initial_state")
    details = state.get("state_details") or {}
    scheduled_time = timezone.now()
    if details.get("scheduled_time"):
        parsed = parse_datetime(str(details["scheduled_time"]))
        if parsed is None:
            raise Invalid("scheduled_time must be an ISO 8601 date-time",
                          loc=["body", "state", "state_details", "scheduled_time"])
        scheduled_time = parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)
    with transaction.atomic():
        deployment = (Deployment.objects.for_workspace(workspace).select_related("work_queue__work_pool")
                      .filter(pk=deployment_id).first())
        if deployment is None:
            raise deployment_not_found()
        parameters = _hydrated_parameters(workspace, {**deployment.parameters, **(data.get("parameters") or {})},
                                          what="flow run")
        enforce = data.get("enforce_parameter_schema")
        if enforce is None:
            enforce = deployment.enforce_parameter_schema
        if enforce or (check_parameters and isinstance(deployment.parameter_openapi_schema, dict)):
            parameters_validate(parameters, deployment.parameter_openapi_schema, loc=["body", "parameters"],
                                into_optional=check_parameters)
        if deployment.work_queue is not None:
            job_variables_validate(workspace=workspace, pool=deployment.work_queue.work_pool,
                                   layers=[deployment.job_variables, data.get("job_variables")], require=True,
                                   action="Error creating flow run")
        queue_id, queue_name = deployment.work_queue_id, deployment.work_queue_name
        if data.get("work_queue_name"):
            if deployment.work_queue is None:
                raise Invalid("The deployment has no work pool to find that queue in.",
                              loc=["body", "work_queue_name"])
            queue = work_queue_get_or_create(workspace=workspace, pool=deployment.work_queue.work_pool,
                                             name=data["work_queue_name"], actor=actor)
            queue_id, queue_name = queue.pk, queue.name
        tags = list(dict.fromkeys([*deployment.tags, *(data.get("tags") or [])]))
        run = NewRun(
            scheduled_time=scheduled_time, idempotency_key=data.get("idempotency_key"), parameters=parameters,
            tags=tags, auto_scheduled=False, name=data.get("name"), context=data.get("context"),
            empirical_policy=data.get("empirical_policy"), parent_task_run_id=data.get("parent_task_run_id"),
            infrastructure_document_id=data.get("infrastructure_document_id"),
            job_variables=data.get("job_variables") or deployment.job_variables, work_queue_id=queue_id,
            work_queue_name=queue_name, state_name=state.get("name") or "Scheduled",
            state_message=state.get("message"), created_by=created_by,
        )
        inserted = flow_runs_insert_scheduled(workspace=workspace, deployment=deployment, runs=[run])
    scoped = FlowRun.objects.for_workspace(workspace)
    if inserted:
        return scoped.get(pk=inserted[0]), True
    existing = scoped.filter(flow_id=deployment.flow_id, idempotency_key=run.idempotency_key).first()
    if existing is None:  # the conflicting run was deleted in between: nothing was created
        raise Conflict("The run for this idempotency key was removed meanwhile; retry.", code="retry")
    return existing, False


# --- scheduling --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SchedulingWindow:
    """How far ahead runs are made (Prefect's scheduler settings): at least `min_runs` and `min_time` ahead,
    at most `max_runs` per schedule and `max_time` ahead."""

    min_runs: int = 3
    max_runs: int = 100
    min_time: datetime.timedelta = datetime.timedelta(hours=1)
    max_time: datetime.timedelta = datetime.timedelta(days=100)


def scheduled_idempotency_key(deployment_id, when: datetime.datetime) -> str:
    """Prefect's key for the run a schedule makes at `when`: one per deployment and time, whichever schedule."""
    return f"scheduled {deployment_id} {when.astimezone(datetime.UTC).isoformat()}"


def deployment_schedule_runs(*, workspace, deployment: Deployment, window: SchedulingWindow | None = None,
                             start: datetime.datetime | None = None, end: datetime.datetime | None = None,
                             min_runs: int | None = None, max_runs: int | None = None,
                             min_time: datetime.timedelta | None = None, auto_scheduled: bool = True,
                             actor=None) -> list[uuid.UUID]:
    """Make the upcoming runs of a deployment's active schedules (none when the deployment is paused).
    Idempotent: dates that already have their run are skipped by the unique idempotency key."""
    if deployment.paused:
        return []
    window = window or SchedulingWindow()
    now = timezone.now()
    start = start or now
    end = end or (now + window.max_time)
    min_runs = window.min_runs if min_runs is None else min_runs
    max_runs = window.max_runs if max_runs is None else max_runs
    min_time = window.min_time if min_time is None else min_time
    tags = ["auto-scheduled", *deployment.tags] if auto_scheduled else list(deployment.tags)
    runs: dict[str, NewRun] = {}
    for schedule in deployment.schedules.all():
        if not schedule.active:
            continue
        limit = min(max_runs, schedule.max_scheduled_runs or max_runs)
        for count, when in enumerate(schedule_dates(schedule.schedule, start=start, end=end, n=limit), start=1):
            key = scheduled_idempotency_key(deployment.pk, when)
            runs.setdefault(key, NewRun(
                scheduled_time=when, idempotency_key=key, parameters=deployment.parameters, tags=tags,
                auto_scheduled=auto_scheduled, state_message="Flow run scheduled",
                job_variables=deployment.job_variables,
            ))
            if count >= min_runs and when >= start + min_time:
                break
    with transaction.atomic():
        return flow_runs_insert_scheduled(workspace=workspace, deployment=deployment, runs=list(runs.values()))
