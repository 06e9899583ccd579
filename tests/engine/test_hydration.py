"""Hydration of `__prefect_kind` values: each kind, nesting and removal, errors worded as Prefect 2.20 words
them (the expected values were taken from 2.20's own `hydrate` with the same inputs), tenancy of workspace
variables, and one query for the variables whatever their number."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.engine.services.hydration import HydrationError, hydrate
from apps.engine.services.variables import variable_create
from tests.factories.workspaces import WorkspaceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def variables(workspace):
    variable_create(workspace=workspace, name="greeting", value="hi", tags=[])
    variable_create(workspace=workspace, name="n", value="3", tags=[])
    return workspace


def json_(value=...):
    return {"__prefect_kind": "json"} if value is ... else {"__prefect_kind": "json", "value": value}


def jinja(template):
    return {"__prefect_kind": "jinja", "template": template}


def var(name):
    return {"__prefect_kind": "workspace_variable", "variable_name": name}


@pytest.mark.parametrize("value, expected", [
    ({"a": json_('{"x": [1, 2]}')}, {"a": {"x": [1, 2]}}),
    ({"a": jinja("{{ 6 * 7 }}")}, {"a": "42"}),
    ({"a": jinja("{{ flow_run.name }}!")}, {"a": "!"}),  # nothing is defined: undefined names render empty
    ({"a": jinja("no template here")}, {"a": "no template here"}),
    ({"a": var("greeting")}, {"a": "hi"}),
    ({"a": {"__prefect_kind": "none", "value": {"b": json_("1")}}}, {"a": {"b": 1}}),
    ({"a": {"__prefect_kind": None, "value": 3}}, {"a": 3}),
    # an unknown kind stands for its value, which 2.20 does not hydrate
    ({"a": {"__prefect_kind": "other", "value": json_("1")}}, {"a": json_("1")}),
    ({"plain": [1, "two", None, {"three": 3.0}]}, {"plain": [1, "two", None, {"three": 3.0}]}),
])
def test_each_kind_becomes_what_it_stands_for(variables, value, expected):
    assert hydrate(value, workspace=variables) == expected


def test_values_nested_in_dicts_and_lists_are_hydrated_at_any_depth(variables):
    value = {"a": [json_("[1]"), {"x": var("n"), "y": [{"z": jinja("{{ 'deep' | upper }}")}]}], "b": "as is"}
    assert hydrate(value, workspace=variables) == {"a": [[1], {"x": "3", "y": [{"z": "DEEP"}]}], "b": "as is"}


def test_kinds_compose_a_template_renders_json_and_a_variable_name(variables):
    assert hydrate({"a": json_(jinja("[{{ 1 + 1 }}]"))}, workspace=variables) == {"a": [2]}
    assert hydrate({"a": var(jinja("gree{{ 'ting' }}"))}, workspace=variables) == {"a": "hi"}


def test_json_or_variable_without_its_value_disappears_from_its_parent(variables):
    value = {"a": json_(), "b": [1, json_(), {"__prefect_kind": "workspace_variable"}], "c": 2}
    assert hydrate(value, workspace=variables) == {"b": [1], "c": 2}
    assert hydrate(json_(), workspace=variables) == {}


@pytest.mark.parametrize("value, reason", [
    ({"a": json_("{bad")}, "Invalid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
    ({"a": json_({"k": 1})}, "Invalid JSON: the JSON object must be str, bytes or bytearray, not dict"),
    ({"a": json_(5)}, "Invalid JSON: the JSON object must be str, bytes or bytearray, not int"),
    ({"a": json_("NaN")}, "Invalid JSON: NaN is not valid JSON"),  # ours: jsonb cannot hold it
    # ours: neither U+0000, from a json value's escape or a template (2.20 on PostgreSQL: 503)
    ({"a": json_('["\\u0000"]')}, "Invalid JSON: The character U+0000 (NUL) is not allowed in a value or key."),
    ({"a": jinja("x{{ '\\x00' }}")},
     "Invalid jinja: the rendered text holds U+0000. The character U+0000 (NUL) is not allowed in a value or key."),
    ({"a": {"__prefect_kind": "jinja"}}, "Missing 'template' key in __prefect object"),
    ({"a": {"__prefect_kind": "none"}}, "Missing 'value' key in __prefect object"),
    ({"a": jinja("{{ x")}, "Invalid jinja: unexpected end of template, expected 'end of print statement'."),
    ({"a": jinja("{% for a in [1] %}{% for b in [2] %}{% for c in [3] %}{% endfor %}{% endfor %}{% endfor %}")},
     "Invalid jinja: Contains nested for loops at a depth of 3. Templates can nest for loops no more than 2 loops "
     "deep."),
    # 2.20 stores the error text as the value here; we refuse (docs/engine.md)
    ({"a": jinja("{% for i in range(1000) %}x{% endfor %}")},
     "Invalid jinja: Failed to render template due to the following error: OverflowError('Range too big. The "
     "sandbox blocks ranges larger than MAX_TEMPLATE_RANGE=100.')"),
    ({"a": jinja(json_("1"))}, "Invalid jinja: a template must be a string, not int"),
    ({"a": var("nope")}, "Variable 'nope' not found in workspace."),
    ({"a": [1, {"b": var("nope")}]}, "Variable 'nope' not found in workspace."),
])
def test_errors_are_worded_as_prefect_words_them(variables, value, reason):
    with pytest.raises(HydrationError) as caught:
        hydrate(value, workspace=variables)
    assert str(caught.value) == reason


def test_a_variable_of_another_workspace_is_not_found(variables, organization):
    other = WorkspaceFactory(organization=organization)
    variable_create(workspace=other, name="secret", value="theirs", tags=[])
    with pytest.raises(HydrationError) as caught:
        hydrate({"a": var("secret")}, workspace=variables)
    assert str(caught.value) == "Variable 'secret' not found in workspace."
    # a name only known once a template ran is looked up in the same workspace only, too
    with pytest.raises(HydrationError):
        hydrate({"a": var(jinja("sec{{ 'ret' }}"))}, workspace=variables)
    assert hydrate({"a": var("secret")}, workspace=other) == {"a": "theirs"}


def test_variables_are_read_in_one_query_and_none_without_variables(variables):
    value = {f"p{i}": var("greeting" if i % 2 else "n") for i in range(20)} | {"x": [var("greeting")]}
    with CaptureQueriesContext(connection) as queries:
        out = hydrate(value, workspace=variables)
    assert len(queries) == 1
    assert out["p1"] == "hi" and out["p2"] == "3" and out["x"] == ["hi"]
    with CaptureQueriesContext(connection) as queries:
        hydrate({"a": json_("[1]"), "b": jinja("{{ 1 }}")}, workspace=variables)
    assert len(queries) == 0
