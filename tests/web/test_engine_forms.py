"""Forms of the workspace pages: blocks (schema-generated, secrets masked, reveal audited), variables,
artifacts rendered safely; denied writes change nothing."""

from __future__ import annotations

import json

import pytest

from apps.access import catalog
from apps.audit.models import AuditEvent
from apps.engine.models import BlockDocument, BlockSchema, Variable
from apps.engine.selectors.blocks import block_document_data
from tests.factories.identity import UserFactory
from tests.factories.organizations import membership
from tests.factories.workspaces import WorkspaceFactory
from tests.web.seed import seed_workspace

pytestmark = pytest.mark.django_db


@pytest.fixture
def s(ws):
    return seed_workspace(ws)


def _base(ws):
    return f"/{ws.organization.handle}/{ws.handle}/"


def test_secret_is_masked_and_revealed_only_with_permission_and_audited(client, ws, s, person):
    url = f"{_base(ws)}blocks/{s.secret.pk}/"
    reader = person(catalog.READ_ONLY_COLLABORATOR)  # no blocks:read_secrets
    client.force_login(reader)
    html = client.get(url).content.decode()
    assert "********" in html and "hunter2-s3cret" not in html and "Reveal secret values" not in html
    assert client.post(url + "reveal").status_code == 403
    assert not AuditEvent.objects.filter(action="praetor.block_secret.read").exists()

    admin = person(catalog.ADMINISTRATOR)
    client.force_login(admin)
    assert "Reveal secret values" in client.get(url).content.decode()
    response = client.post(url + "reveal")
    assert response.status_code == 200 and "hunter2-s3cret" in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    event = AuditEvent.objects.get(action="praetor.block_secret.read")
    assert event.target_id == str(s.secret.pk) and event.workspace_id == ws.pk


def test_create_block_from_its_schema_and_edit_keeps_an_empty_secret(client, ws, s, person):
    client.force_login(person(catalog.COLLABORATOR))
    page = client.get(f"{_base(ws)}blocks/new/secret").content.decode()
    assert 'type="password"' in page and 'name="f__value"' in page
    response = client.post(f"{_base(ws)}blocks/new/secret", {"block_name": "api-token", "f__value": "tok-1"})
    assert response.status_code == 302
    doc = BlockDocument.objects.for_workspace(ws).get(name="api-token")
    assert doc.data == {} and block_document_data(doc, include_secrets=True) == {"value": "tok-1"}
    edit = client.get(f"{_base(ws)}blocks/{doc.pk}/edit").content.decode()
    assert "tok-1" not in edit and "Leave empty to keep the saved value." in edit
    assert client.post(f"{_base(ws)}blocks/{doc.pk}/edit", {"f__value": ""}).status_code == 302
    doc.refresh_from_db()
    assert block_document_data(doc, include_secrets=True) == {"value": "tok-1"}
    assert client.post(f"{_base(ws)}blocks/{doc.pk}/edit", {"f__value": "tok-2"}).status_code == 302
    doc.refresh_from_db()
    assert block_document_data(doc, include_secrets=True) == {"value": "tok-2"}


def test_block_form_errors_change_nothing(client, ws, s, person):
    client.force_login(person(catalog.COLLABORATOR))
    before = BlockDocument.objects.for_workspace(ws).count()
    missing = client.post(f"{_base(ws)}blocks/new/secret", {"block_name": "x-token", "f__value": ""})
    assert missing.status_code == 400 and "This field is required." in missing.content.decode()
    bad_name = client.post(f"{_base(ws)}blocks/new/secret", {"block_name": "Bad Name", "f__value": "v"})
    assert bad_name.status_code == 422 and "lowercase letters" in bad_name.content.decode()
    taken = client.post(f"{_base(ws)}blocks/new/secret", {"block_name": "db-password", "f__value": "v"})
    assert taken.status_code == 409
    json_block = client.post(f"{_base(ws)}blocks/new/json", {"block_name": "cfg", "f__value": "{not json"})
    assert json_block.status_code == 400 and "This is not valid JSON" in json_block.content.decode()
    assert BlockDocument.objects.for_workspace(ws).count() == before


def test_schema_descriptions_are_escaped_in_forms(client, ws, s, person):
    schema = BlockSchema.objects.for_workspace(ws).get(block_type__slug="string")
    schema.fields["properties"]["value"]["description"] = "<img src=x onerror=alert(1)>"
    schema.save()
    client.force_login(person(catalog.COLLABORATOR))
    html = client.get(f"{_base(ws)}blocks/new/string").content.decode()
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_read_only_collaborator_cannot_write_blocks_or_variables(client, ws, s, person):
    client.force_login(person(catalog.READ_ONLY_COLLABORATOR))
    variable = Variable.objects.for_workspace(ws).get(name="region")
    assert client.post(f"{_base(ws)}blocks/new/secret", {"block_name": "n", "f__value": "v"}).status_code == 403
    assert client.post(f"{_base(ws)}blocks/{s.secret.pk}/delete").status_code == 403
    assert client.post(f"{_base(ws)}variables/", {"name": "n", "value": "v"}).status_code == 403
    assert client.post(f"{_base(ws)}variables/{variable.pk}/delete").status_code == 403
    assert BlockDocument.objects.for_workspace(ws).filter(pk=s.secret.pk).exists()
    assert list(Variable.objects.for_workspace(ws).values_list("name", flat=True)) == ["region"]
    assert "New variable" not in client.get(f"{_base(ws)}variables/").content.decode()


def test_variables_create_edit_delete(client, ws, s, person):
    client.force_login(person(catalog.COLLABORATOR))
    assert client.post(f"{_base(ws)}variables/", {"name": "batch", "value": "5", "tags": "a, b"}).status_code == 302
    variable = Variable.objects.for_workspace(ws).get(name="batch")
    assert (variable.value, variable.tags) == ("5", ["a", "b"])
    taken = client.post(f"{_base(ws)}variables/", {"name": "batch", "value": "6"})
    assert taken.status_code == 409 and "already exists" in taken.content.decode()
    bad = client.post(f"{_base(ws)}variables/", {"name": "Bad-Name", "value": "6"})
    assert bad.status_code == 422
    edit = client.post(f"{_base(ws)}variables/{variable.pk}/edit", {"name": "batch", "value": "7", "tags": ""})
    assert edit.status_code == 302
    variable.refresh_from_db()
    assert (variable.value, variable.tags) == ("7", [])
    assert client.post(f"{_base(ws)}variables/{variable.pk}/delete").status_code == 302
    assert not Variable.objects.for_workspace(ws).filter(name="batch").exists()


def test_another_workspaces_variable_and_block_cannot_be_changed(client, org, ws, s):
    other = WorkspaceFactory(organization=org)
    theirs = seed_workspace(other)
    their_variable = Variable.objects.for_workspace(other).get(name="region")
    owner = UserFactory()
    membership(org, owner, "owner")
    client.force_login(owner)
    assert client.post(f"{_base(ws)}variables/{their_variable.pk}/edit",
                       {"name": "region", "value": "x"}).status_code == 404
    assert client.post(f"{_base(ws)}variables/{their_variable.pk}/delete").status_code == 404
    assert client.post(f"{_base(ws)}blocks/{theirs.secret.pk}/delete").status_code == 404
    assert client.post(f"{_base(ws)}blocks/{theirs.secret.pk}/reveal").status_code == 404
    their_variable.refresh_from_db()
    assert their_variable.value == "eu-west-1"
    assert BlockDocument.objects.for_workspace(other).filter(pk=theirs.secret.pk).exists()


def test_markdown_artifact_is_sanitised_and_tables_are_tables(client, ws, s, person):
    from apps.engine.services.artifacts import artifact_create

    evil = artifact_create(workspace=ws, key="evil", type="markdown",
                           data='<img src=x onerror=alert(1)>\n\n[click](javascript:alert(1))\n\n**bold**')
    client.force_login(person(catalog.READ_ONLY_COLLABORATOR))
    html = client.get(f"{_base(ws)}artifacts/{evil.pk}/").content.decode()
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert 'href="javascript' not in html and "<p>[click](javascript:alert(1))</p>" in html  # text, not a link
    assert "<strong>bold</strong>" in html
    table = client.get(f"{_base(ws)}runs/{s.completed.pk}/").content.decode()
    assert "<th scope=\"col\">table</th>" in table and "<td>5400</td>" in table


def test_run_a_deployment_from_its_parameter_form(client, ws, s, person):
    from apps.engine.models import FlowRun

    client.force_login(person(catalog.COLLABORATOR))
    url = f"{_base(ws)}deployments/{s.deployment.pk}/run"
    form = client.get(url).content.decode()
    # One input per schema property, in its `position` order, defaults from the deployment.
    assert form.index('name="f__source"') < form.index('name="f__limit"') < form.index('name="f__full_refresh"')
    assert 'value="s3://bucket/raw"' in form and '<option value="replace">replace</option>' in form
    before = FlowRun.objects.for_workspace(ws).count()
    bad = client.post(url, {"f__source": "s3://x", "f__limit": "many"})
    assert bad.status_code == 400 and "Enter a whole number." in bad.content.decode()
    assert FlowRun.objects.for_workspace(ws).count() == before
    response = client.post(url, {"f__source": "s3://other", "f__limit": "7", "f__full_refresh": "on",
                                 "f__mode": "append"})
    assert response.status_code == 302
    run = FlowRun.objects.for_workspace(ws).exclude(pk__in=[r.pk for r in (s.completed, s.failed, s.running,
                                                                            s.late, s.upcoming)]).get(
        deployment=s.deployment, created_by__isnull=False)
    assert response["Location"] == f"{_base(ws)}runs/{run.pk}/"
    assert run.parameters == {"source": "s3://other", "limit": 7, "full_refresh": True, "mode": "append"}
    assert run.state_type == "SCHEDULED" and run.work_queue_id == s.queue.pk
    assert run.created_by["display_value"].endswith("@example.com")


def test_deployment_run_is_denied_without_deployments_run(client, ws, s, person):
    from apps.engine.models import FlowRun

    client.force_login(person(catalog.READ_ONLY_COLLABORATOR))
    before = FlowRun.objects.for_workspace(ws).count()
    assert client.post(f"{_base(ws)}deployments/{s.deployment.pk}/run", {"f__source": "x"}).status_code == 403
    assert client.post(f"{_base(ws)}deployments/{s.deployment.pk}/pause", {"paused": "1"}).status_code == 403
    assert FlowRun.objects.for_workspace(ws).count() == before
    s.deployment.refresh_from_db()
    assert s.deployment.paused is False
    page = client.get(f"{_base(ws)}deployments/{s.deployment.pk}/").content.decode()
    assert "Run…" not in page and "Pause schedules" not in page


def test_pause_and_resume_a_deployments_schedule(client, ws, s, person):
    from apps.engine.models import DeploymentSchedule

    client.force_login(person(catalog.COLLABORATOR))
    url = f"{_base(ws)}deployments/{s.deployment.pk}/"
    assert "Pause schedules" in client.get(url).content.decode()
    assert client.post(url + "pause", {"paused": "1"}).status_code == 302
    s.deployment.refresh_from_db()
    schedule = DeploymentSchedule.objects.for_workspace(ws).get(deployment=s.deployment)
    assert s.deployment.paused is True and schedule.active is False
    assert "Resume schedules" in client.get(url).content.decode()
    assert client.post(url + "pause", {"paused": "0"}).status_code == 302
    s.deployment.refresh_from_db()
    schedule.refresh_from_db()
    assert s.deployment.paused is False and schedule.active is True


def test_schedules_of_another_deployment_or_workspace_are_not_found(client, org, ws, s, person):
    from apps.engine.models import DeploymentSchedule

    other = WorkspaceFactory(organization=org)
    theirs = seed_workspace(other)
    their_schedule = DeploymentSchedule.objects.for_workspace(other).get(deployment=theirs.deployment)
    client.force_login(person(catalog.COLLABORATOR))
    assert client.post(f"{_base(ws)}deployments/{s.deployment.pk}/schedules/{their_schedule.pk}/active",
                       {"active": "0"}).status_code == 404
    assert client.post(f"{_base(ws)}deployments/{theirs.deployment.pk}/pause", {"paused": "1"}).status_code == 404
    assert client.post(f"{_base(ws)}deployments/{theirs.deployment.pk}/run", {"f__source": "x"}).status_code == 404
    their_schedule.refresh_from_db()
    assert their_schedule.active is True


def test_cancel_a_running_run_records_the_decision(client, ws, s, person):
    from apps.engine.models import FlowRun, OrchestrationDecision

    client.force_login(person(catalog.COLLABORATOR))
    page = client.get(f"{_base(ws)}runs/{s.running.pk}/").content.decode()
    assert "Cancel run" in page and "Retry run" not in page
    response = client.post(f"{_base(ws)}runs/{s.running.pk}/cancel", follow=True)
    run = FlowRun.objects.for_workspace(ws).get(pk=s.running.pk)
    assert (run.state_type, run.state_name) == ("CANCELLING", "Cancelling")
    assert OrchestrationDecision.objects.for_workspace(ws).filter(flow_run=run, state_id=run.state_id).exists()
    assert "Cancelling the run" in response.content.decode()


def test_retry_a_failed_deployment_run(client, ws, s, person):
    from apps.engine.models import FlowRun

    client.force_login(person(catalog.COLLABORATOR))
    page = client.get(f"{_base(ws)}runs/{s.failed.pk}/").content.decode()
    assert "Retry run" in page and "Cancel run" not in page
    assert client.post(f"{_base(ws)}runs/{s.failed.pk}/retry").status_code == 302
    run = FlowRun.objects.for_workspace(ws).get(pk=s.failed.pk)
    assert (run.state_type, run.state_name) == ("SCHEDULED", "AwaitingRetry")


def test_refused_proposal_shows_the_rules_reason_and_changes_nothing(client, ws, s, person):
    from apps.engine.models import FlowRun

    client.force_login(person(catalog.COLLABORATOR))
    # A finished run cannot be cancelled: the terminal-state rule aborts the proposal.
    response = client.post(f"{_base(ws)}runs/{s.completed.pk}/cancel", follow=True)
    run = FlowRun.objects.for_workspace(ws).get(pk=s.completed.pk)
    assert run.state_type == "COMPLETED"
    assert "Not done: Run is already in terminal state COMPLETED." in response.content.decode()


def test_cancel_and_retry_need_their_permissions_and_the_runs_workspace(client, org, ws, s, person):
    from apps.engine.models import FlowRun

    reader = person(catalog.READ_ONLY_COLLABORATOR)
    client.force_login(reader)
    assert client.post(f"{_base(ws)}runs/{s.running.pk}/cancel").status_code == 403
    assert client.post(f"{_base(ws)}runs/{s.failed.pk}/retry").status_code == 403
    page = client.get(f"{_base(ws)}runs/{s.running.pk}/").content.decode()
    assert "Cancel run" not in page
    other = WorkspaceFactory(organization=org)
    theirs = seed_workspace(other)
    client.force_login(person(catalog.COLLABORATOR))
    assert client.post(f"{_base(ws)}runs/{theirs.running.pk}/cancel").status_code == 404
    assert FlowRun.objects.for_workspace(ws).get(pk=s.running.pk).state_type == "RUNNING"
    assert FlowRun.objects.for_workspace(other).get(pk=theirs.running.pk).state_type == "RUNNING"


# What the prefect 2.20 client registers for a block with a nested pydantic (v1) model and secrets.
WAREHOUSE_SCHEMA = {
    "title": "Warehouse", "description": "Where the nightly load writes.", "type": "object",
    "properties": {
        "endpoint": {"$ref": "#/definitions/Endpoint"},
        "password": {"title": "Password", "type": "string", "writeOnly": True, "format": "password"},
        "schema_name": {"title": "Schema Name", "default": "public", "type": "string"},
    },
    "required": ["endpoint", "password"],
    "block_type_slug": "warehouse", "secret_fields": ["password", "endpoint.token"], "block_schema_references": {},
    "definitions": {"Endpoint": {
        "title": "Endpoint", "type": "object", "required": ["host"],
        "properties": {"host": {"title": "Host", "type": "string"},
                       "port": {"title": "Port", "default": 5432, "type": "integer", "minimum": 1},
                       "token": {"title": "Token", "type": "string", "writeOnly": True, "format": "password"}},
    }},
}


@pytest.fixture
def warehouse_type(ws):
    from apps.engine.services.blocks import block_schema_create, block_type_create

    block_type = block_type_create(workspace=ws, name="Warehouse", slug="warehouse")
    block_schema_create(workspace=ws, block_type=block_type, fields=WAREHOUSE_SCHEMA, capabilities=[], version="1")
    return block_type


def test_nested_block_fields_are_created_and_edited_field_by_field(client, ws, s, warehouse_type, person):
    client.force_login(person(catalog.COLLABORATOR))
    url = f"{_base(ws)}blocks/new/warehouse"
    page = client.get(url).content.decode()
    # The nested model is a group of its own inputs (not a JSON text area), its defaults filled in.
    assert "<legend>Endpoint</legend>" in page
    assert 'name="f__endpoint.host"' in page and 'name="f__endpoint.port"' in page and 'value="5432"' in page
    assert page.count('type="password"') == 2 and "textarea" not in page

    before = BlockDocument.objects.for_workspace(ws).count()
    missing = client.post(url, {"block_name": "main", "f__endpoint.port": "5432", "f__password": "pw"})
    assert missing.status_code == 400
    assert missing.context["form"].errors == {"f__endpoint.host": ["This field is required."]}
    # A failure only the schema knows (port minimum 1), reported by the service, lands on its field.
    too_low = client.post(url, {"block_name": "main", "f__endpoint.host": "db", "f__endpoint.port": "0",
                                "f__password": "pw"})
    assert too_low.status_code == 422
    assert too_low.context["form"].errors == {"f__endpoint.port": ["0 is less than the minimum of 1"]}
    html = too_low.content.decode()
    assert 'aria-invalid="true"' in html and 'id="id_f__endpoint.port_errors"' in html
    assert "Please correct the errors below." in html
    assert BlockDocument.objects.for_workspace(ws).count() == before

    created = client.post(url, {"block_name": "main", "f__endpoint.host": "db.internal", "f__endpoint.port": "6432",
                                "f__endpoint.token": "tok-1", "f__password": "pw-1", "f__schema_name": "public"})
    assert created.status_code == 302
    doc = BlockDocument.objects.for_workspace(ws).get(name="main")
    assert block_document_data(doc, include_secrets=True) == {
        "endpoint": {"host": "db.internal", "port": 6432, "token": "tok-1"}, "password": "pw-1",
        "schema_name": "public"}
    assert "tok-1" not in json.dumps(doc.data) and "pw-1" not in json.dumps(doc.data)  # encrypted apart

    edit_url = f"{_base(ws)}blocks/{doc.pk}/edit"
    edit = client.get(edit_url).content.decode()
    assert 'value="db.internal"' in edit and 'value="6432"' in edit and "tok-1" not in edit and "pw-1" not in edit
    bad = client.post(edit_url, {"f__endpoint.host": "db2.internal", "f__endpoint.port": "-3"})
    assert bad.status_code == 422 and list(bad.context["form"].errors) == ["f__endpoint.port"]
    doc.refresh_from_db()
    assert block_document_data(doc, include_secrets=True)["endpoint"]["host"] == "db.internal"
    # Secrets left empty, nested or not, keep their saved values; the nested object is merged, not replaced.
    saved = client.post(edit_url, {"f__endpoint.host": "db2.internal", "f__endpoint.port": "6433"})
    assert saved.status_code == 302
    doc.refresh_from_db()
    assert block_document_data(doc, include_secrets=True) == {
        "endpoint": {"host": "db2.internal", "port": 6433, "token": "tok-1"}, "password": "pw-1",
        "schema_name": "public"}


def test_nested_parameters_of_a_deployment_are_a_group_of_fields(client, ws, s, person):
    from apps.engine.models import FlowRun

    schema = s.deployment.parameter_openapi_schema
    schema["properties"]["target"] = {"title": "target", "position": 4, "allOf": [{"$ref": "#/definitions/Target"}],
                                      "default": {"table": "daily", "batch_size": 500}}
    schema["definitions"] = {"Target": {"title": "Target", "type": "object", "required": ["table"], "properties": {
        "table": {"title": "Table", "type": "string"},
        "batch_size": {"title": "Batch Size", "type": "integer", "default": 500, "maximum": 1000}}}}
    s.deployment.enforce_parameter_schema = True  # the service checks parameters against the schema
    s.deployment.save()
    client.force_login(person(catalog.COLLABORATOR))
    url = f"{_base(ws)}deployments/{s.deployment.pk}/run"
    form = client.get(url).content.decode()
    assert "<legend>target <span" in form and 'name="f__target.table"' in form and 'value="daily"' in form
    before = FlowRun.objects.for_workspace(ws).count()
    too_big = client.post(url, {"f__source": "s3://x", "f__target.table": "weekly", "f__target.batch_size": "5000"})
    assert too_big.status_code == 422
    assert list(too_big.context["form"].errors) == ["f__target.batch_size"]
    assert "5000 is greater than the maximum of 1000" in too_big.context["form"].errors["f__target.batch_size"][0]
    assert FlowRun.objects.for_workspace(ws).count() == before
    ok = client.post(url, {"f__source": "s3://x", "f__target.table": "weekly", "f__target.batch_size": "800"})
    assert ok.status_code == 302
    run = FlowRun.objects.for_workspace(ws).get(pk=ok["Location"].rstrip("/").rsplit("/", 1)[1])
    assert run.parameters["target"] == {"table": "weekly", "batch_size": 800}


def test_a_cancelled_run_is_not_offered_a_retry_the_engine_refuses(client, ws, s, person):
    from django.utils import timezone

    from apps.engine.models import FlowRun
    from tests.web.seed import make_run

    cancelled = make_run(ws, s.flow, "quiet-quail", deployment=s.deployment, queue=s.queue,
                         history=[("SCHEDULED", "Scheduled", timezone.now(), None),
                                  ("CANCELLED", "Cancelled", timezone.now(), None)])
    client.force_login(person(catalog.COLLABORATOR))
    assert "Retry run" not in client.get(f"{_base(ws)}runs/{cancelled.pk}/").content.decode()
    # Posted anyway: the rule refuses, its reason is shown and the run stays Cancelled.
    response = client.post(f"{_base(ws)}runs/{cancelled.pk}/retry", follow=True)
    assert "Cannot transition flows that are cancelling to a state other than Cancelled." in response.content.decode()
    assert FlowRun.objects.for_workspace(ws).get(pk=cancelled.pk).state_type == "CANCELLED"


def _bucket_types(ws):
    """A block type whose `credentials` field holds another block (Prefect's nested blocks), as the client
    registers it: the field is a $ref to the other block's schema, named in block_schema_references."""
    from apps.engine.services.blocks import block_schema_create, block_type_create

    creds_schema = {"title": "Creds", "type": "object", "properties": {"key": {"title": "Key", "type": "string"}},
                    "required": ["key"], "block_type_slug": "creds", "secret_fields": [],
                    "block_schema_references": {}}
    creds = block_type_create(workspace=ws, name="Creds", slug="creds")
    creds_schema_row, _ = block_schema_create(workspace=ws, block_type=creds, fields=creds_schema, capabilities=[],
                                              version="1")
    bucket = block_type_create(workspace=ws, name="Bucket", slug="bucket")
    block_schema_create(workspace=ws, block_type=bucket, capabilities=[], version="1", fields={
        "title": "Bucket", "type": "object",
        "properties": {"bucket_name": {"title": "Bucket Name", "type": "string"},
                       "credentials": {"title": "Credentials", "allOf": [{"$ref": "#/definitions/Creds"}]}},
        "required": ["bucket_name", "credentials"], "block_type_slug": "bucket", "secret_fields": [],
        "block_schema_references": {"credentials": {"block_schema_checksum": "sha256:x", "block_type_slug": "creds"}},
        "definitions": {"Creds": creds_schema}})
    return creds, creds_schema_row


def test_a_field_holding_another_block_is_a_choice_of_saved_blocks(client, org, ws, s, person):
    from apps.engine.services.blocks import block_document_create

    creds, creds_schema = _bucket_types(ws)
    a, b = (block_document_create(workspace=ws, block_schema_id=creds_schema.pk, block_type_id=creds.pk,
                                  data={"key": k}, name=n, is_anonymous=False) for n, k in (("a", "k1"), ("b", "k2")))
    other_ws = WorkspaceFactory(organization=org)
    other_creds, other_schema = _bucket_types(other_ws)
    theirs = block_document_create(workspace=other_ws, block_schema_id=other_schema.pk,
                                   block_type_id=other_creds.pk, data={"key": "x"}, name="theirs", is_anonymous=False)
    client.force_login(person(catalog.COLLABORATOR))
    url = f"{_base(ws)}blocks/new/bucket"
    page = client.get(url).content.decode()
    assert '<select name="f__credentials"' in page and ">Creds / a</option>" in page and ">Creds / b</option>" in page
    assert "<legend>" not in page and "theirs" not in page  # not a group of the other block's own fields
    before = BlockDocument.objects.for_workspace(ws).count()
    # Another workspace's document is not a choice here (and the service would not find it either).
    foreign = client.post(url, {"block_name": "raw", "f__bucket_name": "raw", "f__credentials": str(theirs.pk)})
    assert foreign.status_code == 400 and list(foreign.context["form"].errors) == ["f__credentials"]
    assert BlockDocument.objects.for_workspace(ws).count() == before

    created = client.post(url, {"block_name": "raw", "f__bucket_name": "raw", "f__credentials": str(a.pk)})
    assert created.status_code == 302
    doc = BlockDocument.objects.for_workspace(ws).get(name="raw")
    assert [(r.name, r.reference_block_document_id) for r in doc.references.all()] == [("credentials", a.pk)]
    edit_url = f"{_base(ws)}blocks/{doc.pk}/edit"
    assert f'<option value="{a.pk}" selected>' in client.get(edit_url).content.decode()
    assert client.post(edit_url, {"f__bucket_name": "raw-2", "f__credentials": str(b.pk)}).status_code == 302
    doc.refresh_from_db()
    assert doc.data == {"bucket_name": "raw-2"}
    assert [(r.name, r.reference_block_document_id) for r in doc.references.all()] == [("credentials", b.pk)]
