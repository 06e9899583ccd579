"""Forms generated from JSON Schema, on the server: an optional nested object may be left entirely empty (then
it is omitted); once any of its fields is filled in, its required fields are required. The deployment run
form always checks parameters against the schema, enforced by the deployment or not (422, on the fields)."""

from __future__ import annotations

import pytest

from apps.access import catalog
from apps.engine.models import FlowRun
from apps.web.schema_forms import build_schema_form, form_error_at, schema_form_values
from tests.factories.organizations import membership
from tests.web.seed import seed_workspace

pytestmark = pytest.mark.django_db

# A flow `etl(source: str, limit: int = 100, sink: Sink | None = None)` whose Sink has a required `table`, a
# `batch_size` with a default and a maximum, a flag, and a nested optional `retry` with a required `attempts`.
SCHEMA = {
    "title": "Parameters", "type": "object",
    "properties": {
        "source": {"title": "source", "type": "string", "position": 0},
        "limit": {"title": "limit", "type": "integer", "default": 100, "maximum": 1000, "position": 1},
        "sink": {"title": "sink", "position": 2, "anyOf": [{"$ref": "#/definitions/Sink"}, {"type": "null"}],
                 "default": None},
    },
    "required": ["source"],
    "definitions": {
        "Sink": {"title": "Sink", "type": "object", "required": ["table"], "properties": {
            "table": {"title": "Table", "type": "string", "minLength": 3},
            "batch_size": {"title": "Batch Size", "type": "integer", "default": 500, "maximum": 1000},
            "truncate": {"title": "Truncate", "type": "boolean", "default": False},
            "retry": {"title": "Retry", "anyOf": [{"$ref": "#/definitions/Retry"}, {"type": "null"}]},
        }},
        "Retry": {"title": "Retry", "type": "object", "required": ["attempts"], "properties": {
            "attempts": {"title": "Attempts", "type": "integer"},
            "delay": {"title": "Delay", "type": "number", "default": 1.5},
        }},
    },
}


@pytest.fixture
def deployment(ws):
    deployment = seed_workspace(ws).deployment
    deployment.parameter_openapi_schema = SCHEMA
    deployment.parameters = {}
    deployment.enforce_parameter_schema = False  # the form checks the schema anyway
    deployment.save()
    return deployment


@pytest.fixture
def run_url(client, org, ws, deployment, person):
    client.force_login(person(catalog.COLLABORATOR))
    return f"/{org.handle}/{ws.handle}/deployments/{deployment.pk}/run"


def _new_runs(ws, deployment):
    return FlowRun.objects.for_workspace(ws).filter(deployment=deployment, created_by__isnull=False)


def _created(ws, response) -> FlowRun:
    assert response.status_code == 302, response.content.decode()[-3000:]
    return FlowRun.objects.for_workspace(ws).get(pk=response["Location"].rstrip("/").rsplit("/", 1)[1])


def test_an_optional_object_left_empty_is_omitted_and_its_defaults_are_only_placeholders(client, ws, deployment,
                                                                                          run_url):
    page = client.get(run_url).content.decode()
    assert "data-optional-group" in page and "data-required-when-given" in page
    # The optional object starts empty: its defaults are shown, not filled in, so leaving it alone omits it.
    assert 'name="f__sink.batch_size"' in page and 'placeholder="500"' in page and 'value="500"' not in page
    assert "(required once its group is filled in)" in page
    run = _created(ws, client.post(run_url, {"f__source": "s3://raw", "f__limit": "7"}))
    assert run.parameters == {"source": "s3://raw", "limit": 7}


def test_once_a_field_of_an_optional_object_is_filled_its_required_fields_are_required(client, ws, deployment,
                                                                                       run_url):
    partial = client.post(run_url, {"f__source": "s3://raw", "f__sink.batch_size": "200"})
    assert partial.status_code == 400
    assert partial.context["form"].errors == {"f__sink.table": ["This field is required."]}
    html = partial.content.decode()
    assert 'aria-invalid="true"' in html and 'id="id_f__sink.table_errors"' in html
    # A checkbox changed from its default fills the object in as well.
    checked = client.post(run_url, {"f__source": "s3://raw", "f__sink.truncate": "on"})
    assert checked.status_code == 400 and list(checked.context["form"].errors) == ["f__sink.table"]
    # A nested optional object inside it: filling it in requires its own required field and its parent's.
    nested = client.post(run_url, {"f__source": "s3://raw", "f__sink.retry.delay": "2"})
    assert nested.status_code == 400
    assert nested.context["form"].errors == {"f__sink.table": ["This field is required."],
                                             "f__sink.retry.attempts": ["This field is required."]}
    assert _new_runs(ws, deployment).count() == 0

    run = _created(ws, client.post(run_url, {"f__source": "s3://raw", "f__sink.table": "daily"}))
    assert run.parameters == {"source": "s3://raw", "sink": {"table": "daily", "truncate": False}}
    run = _created(ws, client.post(run_url, {"f__source": "s3://raw", "f__sink.table": "daily",
                                             "f__sink.retry.attempts": "3"}))
    assert run.parameters["sink"] == {"table": "daily", "truncate": False, "retry": {"attempts": 3}}


def test_the_run_form_checks_the_schema_even_when_the_deployment_does_not_enforce_it(client, ws, deployment,
                                                                                     run_url):
    assert deployment.enforce_parameter_schema is False
    bad = client.post(run_url, {"f__source": "s3://raw", "f__limit": "5000", "f__sink.table": "ab"})
    assert bad.status_code == 422
    errors = bad.context["form"].errors
    assert sorted(errors) == ["f__limit", "f__sink.table"]
    assert errors["f__limit"] == ["Validation failed for field 'limit'. Failure reason: 5000 is greater than the "
                                  "maximum of 1000"]
    assert errors["f__sink.table"] == ["Validation failed for field 'sink.table'. Failure reason: 'ab' is too short"]
    html = bad.content.decode()
    assert 'id="id_f__limit_errors"' in html and 'id="id_f__sink.table_errors"' in html
    assert _new_runs(ws, deployment).count() == 0


def test_the_api_keeps_prefects_rule_parameters_are_checked_only_when_enforced(authed_client, ws, deployment,
                                                                              user):
    membership(ws.organization, user, "owner")
    url = f"/api/accounts/{ws.organization_id}/workspaces/{ws.pk}/deployments/{deployment.pk}/create_flow_run"
    response = authed_client.post(url, {"parameters": {"source": "s3://raw", "limit": 5000}}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["parameters"] == {"source": "s3://raw", "limit": 5000}


def test_a_schema_required_failure_lands_on_the_missing_field_in_prefects_wording():
    form = build_schema_form(SCHEMA, data={"f__source": "x"})
    assert form.is_valid(), form.errors
    form_error_at(form, ["sink"], "Validation failed for field 'sink'. Failure reason: 'table' is a required property")
    assert form.errors == {"f__sink.table": ["This field is required."]}


def test_an_optional_object_given_with_its_value_is_prefilled_and_can_be_edited():
    form = build_schema_form(SCHEMA, initial={"source": "s3://raw", "sink": {"table": "daily"}})
    assert form.initial["f__sink.table"] == "daily" and form.initial["f__sink.batch_size"] == 500
    bound = build_schema_form(SCHEMA, data={"f__source": "s3://raw", "f__sink.table": "weekly"})
    assert bound.is_valid(), bound.errors
    assert schema_form_values(bound) == {"source": "s3://raw", "sink": {"table": "weekly", "truncate": False}}
