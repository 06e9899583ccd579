"""Django forms generated from JSON Schema: a block type's fields and a deployment's parameters.

Each schema property becomes one labelled field: strings, enums, integers, numbers and booleans get
their own inputs; secret strings get a password input; an object with declared properties (a nested
pydantic model, inline or through `$ref`/`allOf` to the schema's definitions) becomes a group of fields of
its own (a `<fieldset>`), down to a few levels; anything else (free-form objects, arrays, unions) is a
JSON text area whose value is parsed and checked as JSON. Final validation is the service's (the schema as
a whole, with jsonschema), so the form only converts what a browser sends; `form_error_at` puts the
service's located error back on the field (or group) it is about. A field holding another block (a block
schema reference) is a choice of the workspace's saved documents of that block type.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field

from django import forms
from django.utils.html import escape

# Form field names are prefixed so no schema property can collide with the form's own fields; a nested
# property's name is its path joined with dots ("f__endpoint.host").
PREFIX = "f__"
SEP = "."
# Objects nested deeper than this are edited as JSON.
MAX_DEPTH = 3


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
    """Follow a lone $ref (or pydantic's allOf-of-one-$ref) into the schema's definitions; an anyOf of one
    schema and null (pydantic 2's Optional) becomes that schema."""
    options = [o for o in (prop.get("anyOf") or []) if o.get("type") != "null"]
    if len(options) == 1 and len(prop["anyOf"]) == 2:
        prop = {**{k: v for k, v in prop.items() if k != "anyOf"}, **options[0]}
    ref = prop.get("$ref")
    if ref is None and len(prop.get("allOf") or []) == 1:
        ref = prop["allOf"][0].get("$ref")
    for prefix in ("#/definitions/", "#/$defs/"):
        if ref and ref.startswith(prefix):
            target = definitions.get(ref.removeprefix(prefix), {})
            return {**target, **{k: v for k, v in prop.items() if k not in ("$ref", "allOf")}}
    return prop


def is_secret(prop: dict) -> bool:
    return prop.get("format") == "password" or bool(prop.get("writeOnly"))


def _is_group(prop: dict) -> bool:
    """An object whose properties are declared (a model): edited field by field."""
    return (prop.get("type", "object" if "properties" in prop else None) == "object"
            and isinstance(prop.get("properties"), dict) and bool(prop["properties"]))


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


def schema_properties(schema: dict, *, skip: set[str] = frozenset(),
                      definitions: dict | None = None) -> list[tuple[str, dict, bool]]:
    """(name, resolved property, required) in the schema's order (`position` first, as Prefect's UI)."""
    if definitions is None:
        definitions = schema.get("definitions") or schema.get("$defs") or {}
    required = set(schema.get("required") or [])
    props = [(n, p) for n, p in (schema.get("properties") or {}).items() if n not in skip]
    props.sort(key=lambda item: item[1].get("position", 1_000_000))
    return [(n, _titled(n, p, _resolve(p, definitions)), n in required) for n, p in props]


def _titled(name: str, raw: dict, resolved: dict) -> dict:
    """A property that only points at a definition (pydantic 1 writes a model field as a bare `$ref`) would
    take the definition's title, which names the type ("Secret"), not the field: title it as pydantic titles
    fields ("api_token" → "Api Token")."""
    if "title" in raw or resolved is raw:
        return resolved
    return {**resolved, "title": name.replace("_", " ").title()}


@dataclass
class FieldGroup:
    """A nested object's fields, rendered as a fieldset: `items` are form field names and further groups.
    `required`: the object must be given (it and every enclosing object are required); `optional`: its
    schema lets it be left out, so it is sent only when one of its fields is filled in (`SchemaForm`)."""

    key: str
    label: str
    help_text: str
    required: bool
    optional: bool = False
    items: list = field(default_factory=list)

    @property
    def html_id(self) -> str:
        return "group_" + re.sub(r"[^A-Za-z0-9_-]", "-", self.key)


class SchemaForm(forms.Form):
    """A form built from a JSON Schema; `layout` keeps the nesting of its fields.

    An optional nested object (a group its schema lets be left out) may be left entirely empty: it is then
    omitted. Once any of its fields is filled in, it is given, and its required fields are required (checked
    in `clean`, with the same rule as static/js/schema_forms.js in the browser). `required_when_given` holds
    the fields required by their object's schema whose object is optional (at any level); `check_defaults`
    the checkboxes' schema defaults (a checkbox counts as filled in when it differs from its default).
    """

    layout: list = []
    required_when_given: frozenset = frozenset()
    check_defaults: dict = {}

    def clean(self):
        cleaned = super().clean()
        self._require_given(self.layout, given=True)
        return cleaned

    def _filled(self, key: str) -> bool:
        """Whether the browser sent something for this field (what the user typed, before conversion)."""
        if key in self.check_defaults:
            return (self.add_prefix(key) in self.data) != self.check_defaults[key]
        value = self.data.get(self.add_prefix(key), "")
        return value not in ("", None)

    def group_given(self, group: FieldGroup) -> bool:
        """Whether any field of the group (at any depth) is filled in."""
        return any(self.group_given(item) if isinstance(item, FieldGroup) else self._filled(item)
                   for item in group.items)

    def _require_given(self, items: list, *, given: bool) -> None:
        for item in items:
            if isinstance(item, FieldGroup):
                self._require_given(item.items, given=given and (not item.optional or self.group_given(item)))
            elif (given and item in self.required_when_given and item not in self.errors
                  and self.cleaned_data.get(item) is None):
                self.add_error(item, "This field is required.")

    def omit_empty_groups(self, values: dict) -> dict:
        """Leave out of `values` (nested by property name) every optional group left entirely empty (its
        unchecked checkboxes would otherwise send an object missing its required fields)."""
        def prune(items, node):
            for item in items:
                if not isinstance(item, FieldGroup) or not isinstance(node, dict):
                    continue
                name = item.key.removeprefix(PREFIX).split(SEP)[-1]
                if item.optional and not self.group_given(item):
                    node.pop(name, None)
                elif name in node:
                    prune(item.items, node[name])
        prune(self.layout, values)
        return values

    def grouped(self) -> list[dict]:
        """The layout with bound fields, for the template: [{"field": bound} | {"group": g, "items": [...]}]."""
        def walk(items):
            return [{"group": item, "items": walk(item.items)} if isinstance(item, FieldGroup)
                    else {"field": self[item]} for item in items]
        return walk(self.layout)


class BlockReferenceField(forms.TypedChoiceField):
    """A field holding another saved block: a choice of documents, sent as Prefect's
    `{"$ref": {"block_document_id": …}}` (the block services resolve it, in the workspace)."""

    def __init__(self, *, documents: list, **kwargs):
        choices = [] if kwargs.get("required") else [("", "— None —")]
        choices += [(str(d.pk), f"{d.block_type.name} / {d.name}" if not d.is_anonymous
                     else f"{d.block_type.name} (saved inline with this block)") for d in documents]
        super().__init__(choices=choices, empty_value=None,
                         coerce=lambda v: {"$ref": {"block_document_id": v}}, **kwargs)


def _initial_value(field_: forms.Field, value):
    if isinstance(field_, forms.TypedChoiceField) and not isinstance(value, str):
        return json.dumps(value)
    return value


@dataclass
class _Built:
    """What building a form collects besides its layout: fields, initial values and the rules of optional
    groups (see SchemaForm)."""

    fields: dict = field(default_factory=dict)
    values: dict = field(default_factory=dict)
    required_when_given: set = field(default_factory=set)
    check_defaults: dict = field(default_factory=dict)


def _build(schema: dict, definitions: dict, *, path: list[str], required_above: bool, initial: dict,
           keep_secrets: bool, skip: set[str], built: _Built, depth: int, prefill: bool = True,
           references: dict | None = None) -> list:
    fields, values = built.fields, built.values
    items: list = []
    for name, prop, required in schema_properties(schema, skip=skip if not path else frozenset(),
                                                  definitions=definitions):
        key = PREFIX + SEP.join([*path, name])
        has_default = "default" in prop
        own_required = required and not has_default
        needed = required_above and own_required
        if not path and references is not None and name in references:
            documents, current_id = references[name]
            help_text = escape(prop.get("description") or "")
            if not documents:
                help_text = (help_text + " " if help_text else "") + "No saved block of this type yet: add one first."
            fields[key] = BlockReferenceField(documents=documents, label=prop.get("title") or name,
                                              help_text=help_text, required=needed)
            if current_id is not None:
                values[key] = str(current_id)
            items.append(key)
            continue
        given = initial.get(name, prop.get("default")) if isinstance(initial, dict) else prop.get("default")
        if _is_group(prop) and depth < MAX_DEPTH:
            group = FieldGroup(key=key, label=prop.get("title") or name,
                               help_text=escape(prop.get("description") or ""), required=needed,
                               optional=not own_required)
            # An optional object with no value yet starts empty: its fields' defaults are shown as
            # placeholders, not filled in, so leaving it alone leaves it out.
            group.items = _build(prop, definitions, path=[*path, name], required_above=needed,
                                 initial=given if isinstance(given, dict) else {}, keep_secrets=keep_secrets,
                                 skip=skip, built=built, depth=depth + 1,
                                 prefill=prefill and (own_required or isinstance(given, dict)))
            items.append(group)
            continue
        field_ = _field_for(name, prop, required=needed, keep_secret=keep_secrets)
        fields[key] = field_
        is_check = isinstance(field_, forms.BooleanField)
        if is_check:
            built.check_defaults[key] = given is True if prefill else prop.get("default") is True
        elif own_required and not needed and not (keep_secrets and is_secret(prop)):
            # Required once its (optional) object is given: the form and the browser's script check it.
            built.required_when_given.add(key)
            field_.required_when_given = True
            field_.widget.attrs["data-required-when-given"] = "true"
        if is_check and built.check_defaults[key]:
            field_.widget.attrs["data-default-checked"] = "true"
        if not prefill and not is_check:
            if has_default and not is_secret(prop) and not isinstance(field_, forms.TypedChoiceField):
                field_.widget.attrs["placeholder"] = _placeholder(prop["default"])
            items.append(key)
            continue
        if not is_secret(prop) and given is not None:
            values[key] = _initial_value(field_, given)
        items.append(key)
    return items


def _placeholder(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def build_schema_form(schema: dict, *, data=None, initial: dict | None = None, skip: set[str] = frozenset(),
                      keep_secrets: bool = False, references: dict | None = None) -> SchemaForm:
    """A bound (or unbound) form with one field per schema property (nested objects as groups of fields),
    initial values from `initial` or the properties' defaults. `keep_secrets`: secret inputs may be left
    empty to keep the saved value. `references`: for fields holding another block, name → (the documents
    it may hold, the id it holds now or None): each becomes a choice of those documents."""
    definitions = schema.get("definitions") or schema.get("$defs") or {}
    built = _Built()
    layout = _build(schema, definitions, path=[], required_above=True, initial=initial or {},
                    keep_secrets=keep_secrets, skip=skip, built=built, depth=0, references=references)
    form_class = type("SchemaForm", (SchemaForm,), {
        **built.fields, "layout": layout, "required_when_given": frozenset(built.required_when_given),
        "check_defaults": built.check_defaults})
    return form_class(data=data, initial=built.values)


def _deep_merge(base: dict, overlay: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def schema_form_values(form: forms.Form, *, current: dict | None = None) -> dict:
    """The cleaned values keyed by property name, nested objects rebuilt from their fields; fields left empty
    are left out (the schema's default applies; an optional group left wholly empty is left out, its
    unchecked checkboxes too). With `current` (an
    edit), each nested object given is merged into the saved one, so what its form left empty (a secret)
    stays; top-level merging is the service's."""
    values: dict = {}
    for key, value in form.cleaned_data.items():
        if value is None:
            continue
        *parents, leaf = key.removeprefix(PREFIX).split(SEP)
        node = values
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    if isinstance(form, SchemaForm):
        form.omit_empty_groups(values)
    if current:
        for name, value in values.items():
            if isinstance(value, dict) and isinstance(current.get(name), dict) and _is_group_key(form, name):
                values[name] = _deep_merge(current[name], value)
    return values


def _is_group_key(form: forms.Form, name: str) -> bool:
    return any(isinstance(item, FieldGroup) and item.key == PREFIX + name for item in getattr(form, "layout", []))


# jsonschema's message, alone (block services) or after "Validation failed for field 'x'. Failure reason: "
# (deployment parameters, Prefect's wording).
_REQUIRED = re.compile(r"(?:^|Failure reason: )'(?P<name>[^']+)' is a required property$")


def form_error_at(form: forms.Form, path: list, message: str) -> None:
    """Put a service's validation error, located at `path` inside the submitted document, on the field it
    is about: that field, the missing property's field for "'x' is a required property", else the nearest
    enclosing field; the form's own error list when none matches (a group or the document as a whole)."""
    parts = [str(p) for p in path]
    required = _REQUIRED.search(message)
    if required:
        key = PREFIX + SEP.join([*parts, required["name"]])
        if key in form.fields:
            form.add_error(key, "This field is required.")
            return
    while parts:
        key = PREFIX + SEP.join(parts)
        if key in form.fields:
            form.add_error(key, message)
            return
        parts.pop()
    form.add_error(None, message)
