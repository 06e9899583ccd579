"""Job variables checked against the `variables` JSON Schema of a work pool's base job template, where
and as Prefect 2.20 checks them (server/api/validation.py):

- deployment create and update (with a pool and job variables): the deployment's variables over the
  template's defaults; required variables are not required yet (a run may still supply them);
- a run created from a deployment, and a run's job variables updated while Scheduled: template
  defaults, then the deployment's, then the run's; now every required variable must have a value.

The schema is read as Prefect reads pydantic v1 output: a property that is not required (or has a
default) also accepts null. Defaults referring to a block document (`{"$ref": {"block_document_id"}}`)
use that document's data; a default that fails its own property's schema is left out, and then
required variables are not enforced (Prefect does the same, not to break pools that worked before).
A pool's own defaults must satisfy its schema when the pool is created or its template changed.
Failures are 422 `{"detail": "<what>: Validation failed for field 'x'. Failure reason: ..."}`.
"""

from __future__ import annotations

import copy
import uuid

import jsonschema

from apps.core.errors import DomainError, NotFound
from apps.engine.selectors.blocks import block_document_data, block_document_get
from apps.engine.services.json_schema import (
    UNUSABLE_SCHEMA_ERRORS,
    describe,
    first_error,
    unusable_schema_reason,
    without_required,
)


class JobVariablesInvalid(DomainError):
    """Job variables that fail the work pool's schema: 422 with Prefect's `detail` message."""

    status_code = 422
    default_code = "invalid_job_variables"


def job_variables_validate(*, workspace, pool, layers: list[dict | None], require: bool, action: str) -> None:
    """Check `layers` (later ones win) over the pool's template defaults against its variables schema.

    `action` starts the message ("Error creating deployment"); `require` enforces required variables.
    A pool without a template or without a variables schema accepts anything.
    """
    schema = _variables_schema((pool.base_job_template or {}) if pool is not None else {})
    if schema is None:
        return
    values, dropped_defaults = _defaults(workspace, schema, drop_invalid=True)
    for layer in layers:
        if isinstance(layer, dict):
            values.update(layer)
    error = _first_error(values, schema, require=require and not dropped_defaults, action=action)
    if error is not None:
        raise JobVariablesInvalid(f"{action}: {error}")


def work_pool_defaults_validate(*, workspace, base_job_template: dict) -> None:
    """A pool's template: its variables schema must be a valid JSON Schema and its defaults must satisfy it
    (Prefect checks this when a pool is created; we check updates too)."""
    schema = _variables_schema(base_job_template or {})
    if schema is None:
        return
    defaults, _ = _defaults(workspace, schema, drop_invalid=False)
    error = _first_error(defaults, schema, require=False, action="Validation failed for work pool's job variable "
                                                                  "defaults")
    if error is not None:
        raise JobVariablesInvalid(f"Validation failed for work pool's job variable defaults: {error}")


def _variables_schema(template: dict) -> dict | None:
    schema = template.get("variables") if isinstance(template, dict) else None
    if not schema or not isinstance(schema, dict):
        return None
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise JobVariablesInvalid(f"Invalid schema: {exc.message}") from None
    return schema


def _first_error(values: dict, schema: dict, *, require: bool, action: str) -> str | None:
    checked = _nullable_optionals(schema)
    if not require:
        checked = without_required(checked)
    try:
        error = first_error(values, checked)
    except UNUSABLE_SCHEMA_ERRORS as exc:
        raise JobVariablesInvalid(f"{action}: {unusable_schema_reason(exc)}") from None
    return None if error is None else describe(error)


def _defaults(workspace, schema: dict, *, drop_invalid: bool) -> tuple[dict, bool]:
    """The template's default values (block references resolved) and whether any was left out: with
    `drop_invalid`, those failing their own property's schema are."""
    defaults, dropped = {}, False
    alone = jsonschema.Draft202012Validator(without_required(schema))
    for name, prop in (schema.get("properties") or {}).items():
        if not isinstance(prop, dict) or "default" not in prop:
            continue
        value = prop["default"]
        if isinstance(value, dict) and "$ref" in value:
            value = _block_reference(workspace, value["$ref"])
            if value is None:
                continue
        try:
            invalid = drop_invalid and not alone.is_valid({name: value})
        except UNUSABLE_SCHEMA_ERRORS as exc:
            raise JobVariablesInvalid(unusable_schema_reason(exc)) from None
        if invalid:
            dropped = True
        else:
            defaults[name] = value
    return defaults, dropped


def _block_reference(workspace, ref) -> dict | None:
    doc_id = ref.get("block_document_id") if isinstance(ref, dict) else None
    if doc_id is None:
        return None
    try:
        doc_id = uuid.UUID(str(doc_id))
    except ValueError:
        return None
    document = block_document_get(workspace=workspace, block_document_id=doc_id)
    if document is None:
        raise NotFound("Block not found.")
    return block_document_data(document, include_secrets=False)


def _nullable_optionals(schema: dict) -> dict:
    """Prefect's reading of pydantic v1 schemas: optional properties accept null; a list `items` is a tuple."""
    schema = copy.deepcopy(schema)
    _fix_properties(schema)
    for definition in (schema.get("definitions") or {}).values():
        if isinstance(definition, dict):
            _fix_properties(definition)
    return schema


def _fix_properties(schema: dict) -> None:
    required = schema.get("required") or []
    for name, prop in (schema.get("properties") or {}).items():
        if not isinstance(prop, dict):
            continue
        if name not in required and "type" in prop and prop["type"] != "null":
            prop["anyOf"] = [{"type": prop.pop("type")}, {"type": "null"}]
        if isinstance(prop.get("items"), list) and "prefixItems" not in prop:
            prop["prefixItems"] = prop.pop("items")
        if "properties" in prop:
            _fix_properties(prop)
