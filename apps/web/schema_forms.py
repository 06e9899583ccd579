"""Django forms generated from JSON Schema: a block type's fields and a deployment's parameters.

Each schema property becomes one labelled field: strings, enums, integers, numbers and booleans get
their own inputs; secret strings get a password input; anything richer (objects, arrays, unions,
pydantic models) is a JSON text area whose value is parsed and checked as JSON. Final validation is the
service's (the schema as a whole, with jsonschema), so the form only converts what a browser sends.
"""

from __future__ import annotations

import json

from django import forms
from django.utils.html import escape

# Form field names are prefixed so no schema property can collide with the form's own fields.
PREFIX = "f__"


class JSONValueField(forms.CharField):
    """A JSON document typed into a text area; empty means "not given"."""

    widget = forms.Textarea(attrs={"rows": 4, "class": "mono", "spellcheck": "false"})

    def to_python(self, value):
        value = super().to_python(value)
        if value in ("", None):
            return None
        try:
            return json.loads(value)
        except json.JSONDecodeError as error:
            raise forms.ValidationError(f"This is not valid JSON: {error.msg} (line {error.lineno}).") from None

    def prepare_value(self, value):
        if value is None or isinstance(value, str):
            return value
        return json.dumps(value, indent=2)


def _resolve(prop: dict, definitions: dict) -> dict:
    """Follow a lone $ref (or pydantic's allOf-of-one-$ref) into the schema's definitions."""
    ref = prop.get("$ref")
    if ref is None and len(prop.get("allOf") or []) == 1:
        ref = prop["allOf"][0].get("$ref")
    if ref and ref.startswith("#/definitions/"):
        target = definitions.get(ref.removeprefix("#/definitions/"), {})
        return {**target, **{k: v for k, v in prop.items() if k not in ("$ref", "allOf")}}
    return prop


def is_secret(prop: dict) -> bool:
    return prop.get("format") == "password" or bool(prop.get("writeOnly"))


def _field_for(name: str, prop: dict, *, required: bool, keep_secret: bool) -> forms.Field:
    label = prop.get("title") or name
    # Help text is rendered unescaped by the shared field template; schema text comes from clients: escape it.
    help_text = escape(prop.get("description") or "")
    kind = prop.get("type")
    common = {"label": label, "help_text": help_text, "required": required}
    if "enum" in prop and kind in (None, "string", "integer"):
        choices = [("", "—")] if not required else []
        choices += [(json.dumps(v) if kind != "string" else v, str(v)) for v in prop["enum"]]
        return forms.TypedChoiceField(choices=choices, empty_value=None,
                                      coerce=(lambda v: v) if kind == "string" else json.loads, **common)
    if kind == "string" and is_secret(prop):
        if keep_secret:
            common["required"] = False
            common["help_text"] = (help_text + " " if help_text else "") + "Leave empty to keep the saved value."
        return forms.CharField(widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
                               strip=False, empty_value=None, **common)
    if kind == "string" and prop.get("format") not in ("date-time", "date"):
        return forms.CharField(strip=False, empty_value=None, **common)
    if kind == "integer":
        return forms.IntegerField(**common)
    if kind == "number":
        return forms.FloatField(**common)
    if kind == "boolean":
        common["required"] = False
        return forms.BooleanField(**common)
    common["help_text"] = (help_text + " " if help_text else "") + "As JSON."
    return JSONValueField(**common)


def schema_properties(schema: dict, *, skip: set[str] = frozenset()) -> list[tuple[str, dict, bool]]:
    """(name, resolved property, required) in the schema's order (`position` first, as Prefect's UI)."""
    definitions = schema.get("definitions") or schema.get("$defs") or {}
    required = set(schema.get("required") or [])
    props = [(n, p) for n, p in (schema.get("properties") or {}).items() if n not in skip]
    props.sort(key=lambda item: item[1].get("position", 1_000_000))
    return [(n, _resolve(p, definitions), n in required) for n, p in props]


def build_schema_form(schema: dict, *, data=None, initial: dict | None = None, skip: set[str] = frozenset(),
                      keep_secrets: bool = False) -> forms.Form:
    """A bound (or unbound) form with one field per schema property, initial values from `initial` or the
    properties' defaults. `keep_secrets`: secret inputs may be left empty to keep the saved value."""
    initial = initial or {}
    fields, values = {}, {}
    for name, prop, required in schema_properties(schema, skip=skip):
        has_default = "default" in prop
        field = _field_for(name, prop, required=required and not has_default, keep_secret=keep_secrets)
        fields[PREFIX + name] = field
        value = initial.get(name, prop.get("default"))
        if not is_secret(prop) and value is not None:
            values[PREFIX + name] = json.dumps(value) if isinstance(field, forms.TypedChoiceField) \
                and not isinstance(value, str) else value
    form_class = type("SchemaForm", (forms.Form,), fields)
    return form_class(data=data, initial=values)


def schema_form_values(form: forms.Form) -> dict:
    """The cleaned values keyed by property name; fields left empty are left out (the schema's default
    applies; on an edit, merged into the saved data, the saved value stays, secrets included)."""
    return {key.removeprefix(PREFIX): value for key, value in form.cleaned_data.items() if value is not None}
