"""Hydration of `__prefect_kind` values, as Prefect 2.20's server does it for deployment parameters and run
input (prefect/utilities/schema_tools/hydration.py): `{"__prefect_kind": "json", "value": "[1, 2]"}`
becomes `[1, 2]`, a `jinja` template its rendering, a `workspace_variable` that variable's value, `none`
its value; anything else is walked, dicts and lists at any depth.

Hydration always renders and always raises on the first error (2.20's `raise_on_error=True,
render_jinja=True, render_workspace_variables=True`, the only way its endpoints call it). Variables are
read from the given workspace only, in one query for every name the value mentions (2.20 reads all of
them); a variable of another workspace is "not found" exactly as a missing one.
"""

from __future__ import annotations

import json
from typing import Any

from apps.core.api.parsers import NUL_MESSAGE, has_nul
from apps.core.errors import DomainError
from apps.engine.selectors.variables import variable_values_by_names
from apps.engine.services.templates import TemplateRejected, template_render

KIND = "__prefect_kind"


class HydrationError(Exception):
    """Why a value could not be hydrated, worded as Prefect 2.20 words it (`str(exc)`)."""


class HydrationFailed(DomainError):
    """A request whose `__prefect_kind` values could not be hydrated: 400, nothing stored."""

    status_code = 400
    default_code = "hydration_failed"


class _Remove:
    """What a `json` or `workspace_variable` object without its value key becomes: it disappears from its
    parent (2.20 does this for the UI's empty form fields)."""


_REMOVE = _Remove()


def _missing_key(key: str) -> HydrationError:
    return HydrationError(f"Missing '{key}' key in __prefect object")


def _invalid_json(detail: str) -> HydrationError:
    return HydrationError(f"Invalid JSON: {detail}")


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


class _Hydrator:
    """One hydration: the workspace, and the variables it has read so far (name → value)."""

    def __init__(self, workspace, value: Any):
        self.workspace = workspace
        names = set(_variable_names(value))
        self.variables = variable_values_by_names(workspace=workspace, names=names) if names else {}
        self.looked_up = names

    def variable(self, name: Any) -> str:
        if not isinstance(name, str):  # a name made by a nested json/jinja value may be anything
            raise HydrationError(f"Variable '{name}' not found in workspace.")
        if name not in self.looked_up:  # a name only known once its nested template/json was hydrated
            self.variables.update(variable_values_by_names(workspace=self.workspace, names={name}))
            self.looked_up.add(name)
        if name not in self.variables:
            raise HydrationError(f"Variable '{name}' not found in workspace.")
        return self.variables[name]

    def walk(self, value: Any) -> Any:
        if isinstance(value, dict):
            if KIND in value:
                return self.kind(value)
            out = {}
            for key, item in value.items():
                hydrated = self.walk(item)
                if hydrated is not _REMOVE:
                    out[key] = hydrated
            return out
        if isinstance(value, list):
            return [hydrated for item in value if (hydrated := self.walk(item)) is not _REMOVE]
        return value

    def kind(self, obj: dict) -> Any:
        kind = obj[KIND]
        if kind == "none":
            if "value" not in obj:
                raise _missing_key("value")
            return self.walk(obj["value"])
        if kind == "json":
            if "value" not in obj:
                return _REMOVE
            text = self.walk(obj["value"]) if isinstance(obj["value"], dict) else obj["value"]
            try:
                # NaN/Infinity are refused: PostgreSQL's jsonb cannot store them (2.20 accepts them).
                loaded = json.loads(text, parse_constant=_reject_constant)
            except (json.JSONDecodeError, TypeError, ValueError) as exc:
                raise _invalid_json(str(exc)) from None
            if has_nul(text):  # nor U+0000 (the request's own JSON is checked by its parser)
                raise _invalid_json(NUL_MESSAGE)
            return loaded
        if kind == "jinja":
            if "template" not in obj:
                raise _missing_key("template")
            template = self.walk(obj["template"]) if isinstance(obj["template"], dict) else obj["template"]
            if not isinstance(template, str):
                raise HydrationError(f"Invalid jinja: a template must be a string, not {type(template).__name__}")
            try:
                rendered = template_render(template)
            except TemplateRejected as exc:
                raise HydrationError(f"Invalid jinja: {exc}") from None
            if "\x00" in rendered:
                raise HydrationError(f"Invalid jinja: the rendered text holds U+0000. {NUL_MESSAGE}")
            return rendered
        if kind == "workspace_variable":
            if "variable_name" not in obj:
                return _REMOVE
            name = obj["variable_name"]
            return self.variable(self.walk(name) if isinstance(name, dict) else name)
        # An unknown kind (or null) stands for its value, taken as is: 2.20 does not hydrate inside it.
        return obj.get("value")


def _variable_names(value: Any):
    """Every plain variable name `value` mentions, to read them all in one query up front."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get(KIND) == "workspace_variable" and isinstance(item.get("variable_name"), str):
                yield item["variable_name"]
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def hydrate(value: Any, *, workspace) -> Any:
    """`value` with every `__prefect_kind` object replaced by what it stands for (a top-level object that
    disappears becomes `{}`, as in 2.20). Raises HydrationError with 2.20's reason on the first failure."""
    result = _Hydrator(workspace, value).walk(value)
    return {} if result is _REMOVE else result
