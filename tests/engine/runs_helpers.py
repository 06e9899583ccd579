"""Helpers for the flow/task run tests: URLs and the requests the prefect 2.20 client makes."""

from __future__ import annotations

import json
import re
from pathlib import Path

TRACES = Path("/work/shared/prefect2-compat/traces")
if not TRACES.exists():  # the repository's own copy, when the shared folder is absent
    TRACES = Path(__file__).resolve().parents[1] / "compat" / "traces"


def base(ws) -> str:
    return f"/api/accounts/{ws.organization_id}/workspaces/{ws.pk}/"


def details(**values) -> dict:
    out = {"flow_run_id": None, "task_run_id": None, "child_flow_run_id": None, "scheduled_time": None,
           "cache_key": None, "cache_expiration": None, "untrackable_result": False, "pause_timeout": None,
           "pause_reschedule": False, "pause_key": None, "run_input_keyset": None, "refresh_cache": None,
           "retriable": None, "transition_id": None, "task_parameters_id": None}
    out.update(values)
    return out


def state(type_: str, name: str | None = None, data=None, message=None, **detail_values) -> dict:
    return {"type": type_, "name": name, "message": message, "state_details": details(**detail_values),
            "data": data}


def create_flow(client, ws, name="etl") -> dict:
    response = client.post(base(ws) + "flows/", {"name": name, "tags": []}, format="json")
    assert response.status_code in (200, 201), response.content
    return response.json()


def create_flow_run(client, ws, flow_id, *, retries=0, retry_delay=0, state_=None, **extra) -> dict:
    body = {
        "state": state_ or state("PENDING", "Pending"), "name": None, "flow_id": flow_id, "deployment_id": None,
        "flow_version": "abc", "parameters": {"k": 3}, "context": {}, "parent_task_run_id": None,
        "infrastructure_document_id": None,
        "empirical_policy": {"max_retries": retries, "retry_delay_seconds": retry_delay, "retries": retries,
                             "retry_delay": retry_delay, "pause_keys": [], "resuming": False, "retry_type": None},
        "tags": [], "idempotency_key": None, **extra,
    }
    response = client.post(base(ws) + "flow_runs/", body, format="json")
    assert response.status_code in (200, 201), response.content
    return response.json()


def create_task_run(client, ws, flow_run_id, *, key="numbers-0ac8511a", dynamic_key="0", retries=0,
                    tags=(), cache_key=None, expect=(200, 201), **extra) -> dict:
    body = {
        "state": state("PENDING", "Pending"), "name": f"{key.split('-')[0]}-{dynamic_key}",
        "flow_run_id": flow_run_id, "task_key": key, "dynamic_key": dynamic_key, "cache_key": cache_key,
        "cache_expiration": None, "task_version": None,
        "empirical_policy": {"max_retries": retries, "retry_delay_seconds": 0, "retries": retries, "retry_delay": 0,
                             "retry_jitter_factor": None},
        "tags": list(tags), "task_inputs": {"k": []}, **extra,
    }
    response = client.post(base(ws) + "task_runs/", body, format="json")
    assert response.status_code in expect, response.content
    return response.json()


def set_flow_state(client, ws, run_id, type_, name=None, force=False, **kw):
    return client.post(base(ws) + f"flow_runs/{run_id}/set_state",
                       {"state": state(type_, name, **kw), "force": force}, format="json")


def set_task_state(client, ws, run_id, type_, name=None, force=False, **kw):
    return client.post(base(ws) + f"task_runs/{run_id}/set_state",
                       {"state": state(type_, name, **kw), "force": force}, format="json")


def trace(name: str) -> list[dict]:
    return [json.loads(line) for line in (TRACES / name).read_text().splitlines() if line.strip()]


def shape_of(value):
    """The JSON shape of a value: keys and kinds, recursively (lists by their first item)."""
    if isinstance(value, dict):
        return {k: shape_of(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape_of(value[0])] if value else []
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str) and re.fullmatch(r"[0-9a-f-]{36}", value):
        return "uuid"
    return type(value).__name__


def member_client(organization, workspace, role):
    """(an APIClient with a new member's API key, that member): the member granted `role` on `workspace`, the
    organization on Enterprise (where workspace roles, and so a grant's role, decide)."""
    from rest_framework.test import APIClient

    from apps.identity.services import api_key_create
    from apps.organizations.models import Tier
    from tests.factories.access import grant
    from tests.factories.identity import UserFactory
    from tests.factories.organizations import membership

    organization.tier = Tier.ENTERPRISE
    organization.save(update_fields=["tier"])
    member = UserFactory()
    membership(organization, member, "member")
    grant(workspace, role=role, user=member)
    _, secret = api_key_create(owner=member, name="k", expires_at=None)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client, member
