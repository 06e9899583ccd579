"""JSON Schema helpers the engine's validations share (job variables, run input, deployment parameters):
Draft 2020-12 as Prefect 2.20 applies it, its failures worded as Prefect words them, and a schema that cannot
be applied (a circular or dangling `$ref`) reported as a bad schema instead of failing the request."""

from __future__ import annotations

import jsonschema
from referencing.exceptions import Unresolvable

# What `iter_errors` raises when the schema itself cannot be applied (it only shows once a value reaches
# the faulty part, so `check_schema` does not catch it).
UNUSABLE_SCHEMA_ERRORS = (RecursionError, Unresolvable)


def unusable_schema_reason(exc: BaseException) -> str:
    """The reason, for an error of UNUSABLE_SCHEMA_ERRORS, that the schema cannot be applied."""
    if isinstance(exc, Unresolvable):
        return f"Invalid schema: the reference {exc.ref!r} cannot be resolved."
    return "Invalid schema: Unable to validate schema with circular references."


def first_error(instance, schema: dict) -> jsonschema.ValidationError | None:
    """The failure Prefect reports first (jsonschema's best match), or None. May raise
    UNUSABLE_SCHEMA_ERRORS."""
    return jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(instance))


def describe(error: jsonschema.ValidationError) -> str:
    """Prefect's wording of a failure: where it is, then why."""
    where = "Validation failed." if error.json_path == "$" else \
        f"Validation failed for field {error.json_path.removeprefix('$.')!r}."
    return f"{where} Failure reason: {error.message}"


def without_required(schema):
    """`schema` with every `required` list left out, at any depth (values may still be missing)."""
    if isinstance(schema, dict):
        return {k: without_required(v) for k, v in schema.items() if k != "required"}
    if isinstance(schema, list):
        return [without_required(v) for v in schema]
    return schema
