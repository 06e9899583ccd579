"""Acting on a flow run from its page: Cancel (propose Cancelling) and Retry (propose Scheduled named
AwaitingRetry, as Prefect's UI does). Both go through the engine's set_state service, so the orchestration
rules decide exactly as for the client; a refused proposal is shown with the rule's reason."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect

from apps.core.errors import DomainError
from apps.engine.models import StateType
from apps.engine.selectors import ui
from apps.engine.services.flow_runs import flow_run_set_state
from apps.web.pages import WorkspacePageView

CANCEL, RETRY = "flow_runs:cancel", "flow_runs:write"
CANCELLABLE = frozenset({StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.PAUSED})
# Not Cancelled: the engine (as Prefect 2.20's EnforceCancellingToCancelledTransition) refuses to move a
# Cancelled run to any other state, so a Retry button there could only ever show a refusal.
RETRYABLE = frozenset({StateType.FAILED, StateType.CRASHED})


def can_cancel(run, access) -> bool:
    return run.state_type in CANCELLABLE and access.has(CANCEL)


def can_retry(run, access) -> bool:
    # Prefect reschedules only runs of a deployment: a worker or agent must pick the run up again.
    return run.state_type in RETRYABLE and run.deployment_id is not None and access.has(RETRY)


def _propose(request, org, ws, run_id, state: dict, done: str):
    run = ui.flow_run_get(workspace=request.workspace, flow_run_id=run_id)
    if run is None:
        raise Http404
    try:
        result = flow_run_set_state(workspace=request.workspace, flow_run_id=run.pk, state=state, actor=request.user)
    except DomainError as error:
        messages.error(request, error.detail)
    else:
        if result.status == "ACCEPT":
            messages.success(request, done)
        else:
            reason = result.context.details_json().get("reason") or "the orchestration rules refused it"
            messages.error(request, f"Not done: {reason}")
    return redirect("web:flow-run", org=org, ws=ws, run_id=run.pk)


class FlowRunCancelView(WorkspacePageView):
    required_permissions = {"POST": CANCEL}

    def post(self, request, org, ws, run_id):
        return _propose(request, org, ws, run_id, {"type": StateType.CANCELLING, "name": "Cancelling",
                                                    "message": f"Cancelled from the web by {request.user.email}"},
                        "Cancelling the run: its worker stops it and marks it Cancelled.")


class FlowRunRetryView(WorkspacePageView):
    required_permissions = {"POST": RETRY}

    def post(self, request, org, ws, run_id):
        return _propose(request, org, ws, run_id, {"type": StateType.SCHEDULED, "name": "AwaitingRetry",
                                                    "message": f"Retried from the web by {request.user.email}"},
                        "The run is scheduled again (AwaitingRetry); a worker picks it up.")
