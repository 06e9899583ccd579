"""Writes of flow run inputs: create (each key once per run), delete. The run must be the workspace's."""

from __future__ import annotations

import json
import re
import uuid

import jsonschema
from django.db import IntegrityError, transaction

from apps.core.errors import Conflict, Invalid, NotFound
from apps.engine.models.flow_run_inputs import FlowRunInput
from apps.engine.models.runs import FlowRun
from apps.engine.services.json_schema import UNUSABLE_SCHEMA_ERRORS, describe, first_error, unusable_schema_reason

_KEY = re.compile(r"^[a-z0-9-]+$")


def flow_run_input_create(*, workspace, flow_run_id: uuid.UUID, key: str, value: str, sender: str | None = None,
                          actor=None) -> FlowRunInput:
    """Store `value` under `key` for the run. The key takes lowercase letters, digits and dashes (as the
    client checks); a key the run already has is a 409 and leaves the first value untouched."""
    if not _KEY.match(key):
        raise Invalid("key must only contain lowercase letters, numbers, and dashes.", loc=["body", "key"])
    if not FlowRun.objects.for_workspace(workspace).filter(pk=flow_run_id).exists():
        raise NotFound("Flow run not found")
    try:
        with transaction.atomic():
            return FlowRunInput.objects.for_workspace(workspace).create(
                workspace_id=getattr(workspace, "pk", workspace), flow_run_id=flow_run_id, key=key, value=value,
                sender=sender)
    except IntegrityError:
        # the unique (run, key) constraint, or the run deleted meanwhile (its foreign key)
        if FlowRun.objects.for_workspace(workspace).filter(pk=flow_run_id).exists():
            raise Conflict("A flow run input with this key already exists.",
                           code="flow_run_input_key_taken") from None
        raise NotFound("Flow run not found") from None


def flow_run_input_delete(*, workspace, flow_run_id: uuid.UUID, key: str, actor=None) -> None:
    deleted, _ = FlowRunInput.objects.for_workspace(workspace).filter(flow_run_id=flow_run_id, key=key).delete()
    if not deleted:
        raise NotFound("Flow run input not found")


def run_input_rejection(*, workspace, flow_run_id: uuid.UUID, keyset: dict, run_input: dict) -> str | None:
    """Why `run_input` cannot resume a run paused for the input `keyset` names, or None when it can.

    The paused flow stored the JSON Schema of the input it waits for under `keyset["schema"]`; the input
    must satisfy it (Draft 2020-12, the first error reported as Prefect words it)."""
    row = FlowRunInput.objects.for_workspace(workspace).filter(flow_run_id=flow_run_id,
                                                               key=keyset.get("schema")).first()
    if row is None:
        return "Run input schema not found."
    try:
        schema = json.loads(row.value)
    except ValueError:
        return "Run input schema is not valid JSON."
    if not isinstance(schema, dict):
        return "Invalid schema: the run input schema is not a JSON object."
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
        error = first_error(run_input, schema)
    except jsonschema.SchemaError as exc:
        return f"Invalid schema: {exc.message}"
    except UNUSABLE_SCHEMA_ERRORS as exc:
        return unusable_schema_reason(exc)
    return None if error is None else f"Reason: {describe(error)}"


def run_input_store_response(*, workspace, flow_run_id: uuid.UUID, keyset: dict, run_input: dict) -> None:
    """Store the input a resume carried under `keyset["response"]`, where the resumed flow reads it. Called
    inside the resume's transaction: a clash (the key exists) is a 409 and undoes the resume too."""
    try:
        with transaction.atomic():
            FlowRunInput.objects.for_workspace(workspace).create(
                workspace_id=getattr(workspace, "pk", workspace), flow_run_id=flow_run_id,
                key=keyset["response"], value=json.dumps(run_input, separators=(",", ":")))
    except IntegrityError:
        raise Conflict("A flow run input with this key already exists.", code="flow_run_input_key_taken") from None
