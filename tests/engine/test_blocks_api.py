"""Blocks through the API: system types seeded per workspace, schemas by checksum, documents with
secrets encrypted at rest and obscured on read, schema validation, filters, tenancy."""

from __future__ import annotations

import uuid

import pytest
from cryptography.fernet import Fernet
from django.db import connection

from apps.engine.models import BlockDocument, BlockSchema, BlockType
from apps.engine.services.block_encryption import block_secrets_rotate
from apps.engine.services.blocks import workspace_seed_blocks
from apps.workspaces.services import workspace_create
from tests.factories.workspaces import WorkspaceFactory

LOCAL_FS_CHECKSUM = "sha256:6db1ab242e7b2b88a52dc137a7da3a373af63e0a103b9a91e060ed54a26f395a"
pytestmark = pytest.mark.django_db


def base(ws) -> str:
    return f"/api/accounts/{ws.organization_id}/workspaces/{ws.pk}/"


@pytest.fixture
def ws(workspace):
    workspace_seed_blocks(workspace=workspace)
    return workspace


def secret_ids(client, ws) -> tuple[str, str]:
    block_type = client.get(base(ws) + "block_types/slug/secret").json()
    schema = client.post(base(ws) + "block_schemas/filter",
                         {"block_schemas": {"block_type_id": {"any_": [block_type["id"]]}}}, format="json").json()[0]
    return block_type["id"], schema["id"]


def create_secret(client, ws, name="db-password", value="hunter2"):
    type_id, schema_id = secret_ids(client, ws)
    return client.post(base(ws) + "block_documents/", {"name": name, "data": {"value": value},
                       "block_schema_id": schema_id, "block_type_id": type_id}, format="json")


def test_workspace_create_seeds_the_system_block_types(organization, user):
    ws = workspace_create(organization=organization, name="Prod", handle="prod", actor=user)
    slugs = set(BlockType.objects.for_workspace(ws).values_list("slug", flat=True))
    assert {"local-file-system", "process", "secret", "json", "string", "date-time", "webhook"} <= slugs
    assert len(slugs) == 26
    assert BlockSchema.objects.for_workspace(ws).count() == 26
    protected = set(BlockType.objects.for_workspace(ws).filter(is_protected=True).values_list("slug", flat=True))
    assert protected == {"webhook", "json", "date-time", "secret", "local-file-system", "process"}
    assert workspace_seed_blocks(workspace=ws) == 0  # idempotent


def test_client_lookups_by_slug_and_checksum(authed_client, ws):
    block_type = authed_client.get(base(ws) + "block_types/slug/local-file-system")
    assert block_type.status_code == 200
    assert block_type.json()["name"] == "Local File System"
    assert block_type.json()["is_protected"] is True
    schema = authed_client.get(base(ws) + f"block_schemas/checksum/{LOCAL_FS_CHECKSUM}?version=2.20.26")
    assert schema.status_code == 200
    body = schema.json()
    assert body["block_type_id"] == block_type.json()["id"]
    assert body["block_type"]["slug"] == "local-file-system"
    assert body["capabilities"] == ["get-directory", "put-directory", "read-path", "write-path"]
    assert body["fields"]["properties"] == {"basepath": {
        "title": "Basepath", "type": "string", "description": "Default local path for this block to write to."}}
    missing = authed_client.get(base(ws) + f"block_schemas/checksum/{LOCAL_FS_CHECKSUM}?version=1.0")
    assert missing.status_code == 404


def test_anonymous_document_gets_a_generated_name(authed_client, ws):
    type_id = authed_client.get(base(ws) + "block_types/slug/local-file-system").json()["id"]
    schema_id = authed_client.get(base(ws) + f"block_schemas/checksum/{LOCAL_FS_CHECKSUM}").json()["id"]
    response = authed_client.post(base(ws) + "block_documents/", {
        "name": None, "data": {"basepath": "/tmp/storage"}, "block_schema_id": schema_id,
        "block_type_id": type_id, "is_anonymous": True}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["name"].startswith("anonymous-")
    assert body["is_anonymous"] is True
    assert body["data"] == {"basepath": "/tmp/storage"}
    assert body["block_type_name"] == "Local File System"
    assert body["block_schema"]["checksum"] == LOCAL_FS_CHECKSUM
    assert body["block_document_references"] == {}
    # anonymous documents are hidden from the default filter, shown when asked for
    assert authed_client.post(base(ws) + "block_documents/filter", {}, format="json").json() == []
    shown = authed_client.post(base(ws) + "block_documents/filter",
                               {"block_documents": {"is_anonymous": {"eq_": True}}}, format="json").json()
    assert [d["id"] for d in shown] == [body["id"]]


def test_secret_is_encrypted_at_rest_and_obscured_unless_asked(authed_client, ws):
    created = create_secret(authed_client, ws)
    assert created.status_code == 201
    assert created.json()["data"] == {"value": "********"}
    row = BlockDocument.objects.for_workspace(ws).get(pk=created.json()["id"])
    assert row.data == {}
    assert "hunter2" not in row.encrypted_secrets
    with connection.cursor() as cursor:
        cursor.execute("SELECT data::text, encrypted_secrets FROM engine_blockdocument WHERE id = %s", [row.pk])
        assert "hunter2" not in "".join(cursor.fetchone())
    url = base(ws) + f"block_documents/{row.pk}"
    assert authed_client.get(url).json()["data"] == {"value": "********"}
    assert authed_client.get(url + "?include_secrets=true").json()["data"] == {"value": "hunter2"}
    by_name = authed_client.get(base(ws) + "block_types/slug/secret/block_documents/name/db-password",
                                {"include_secrets": "true"})
    assert by_name.json()["data"] == {"value": "hunter2"}


def test_document_failing_its_schema_is_422_and_nothing_stored(authed_client, ws):
    type_id, schema_id = secret_ids(authed_client, ws)
    response = authed_client.post(base(ws) + "block_documents/", {"name": "bad", "data": {"value": 12},
                                  "block_schema_id": schema_id, "block_type_id": type_id}, format="json")
    assert response.status_code == 422
    assert response.json()["exception_detail"] == [
        {"loc": ["body", "data", "value"], "msg": "12 is not of type 'string'",
         "type": "value_error.block_data_invalid"}
    ]
    missing = authed_client.post(base(ws) + "block_documents/", {"name": "bad", "data": {},
                                 "block_schema_id": schema_id, "block_type_id": type_id}, format="json")
    assert missing.status_code == 422
    assert missing.json()["exception_detail"][0]["msg"] == "'value' is a required property"
    assert BlockDocument.objects.for_workspace(ws).count() == 0


@pytest.mark.parametrize("body", [
    {"name": "Upper", "data": {"value": "x"}},
    {"name": None, "data": {"value": "x"}},
    {"name": "ok", "data": {"value": "x"}, "surprise": 1},
])
def test_bad_document_input_is_422(authed_client, ws, body):
    type_id, schema_id = secret_ids(authed_client, ws)
    response = authed_client.post(base(ws) + "block_documents/",
                                  {**body, "block_schema_id": schema_id, "block_type_id": type_id}, format="json")
    assert response.status_code == 422
    assert BlockDocument.objects.for_workspace(ws).count() == 0


def test_duplicate_name_is_409(authed_client, ws):
    assert create_secret(authed_client, ws).status_code == 201
    again = create_secret(authed_client, ws, value="other")
    assert again.status_code == 409
    assert again.json()["detail"] == "Block already exists"


def test_update_keeps_secret_sent_back_obscured_and_replaces_it_when_new(authed_client, ws):
    doc_id = create_secret(authed_client, ws).json()["id"]
    url = base(ws) + f"block_documents/{doc_id}"
    assert authed_client.patch(url, {"data": {"value": "********"}}, format="json").status_code == 204
    assert authed_client.get(url + "?include_secrets=true").json()["data"] == {"value": "hunter2"}
    assert authed_client.patch(url, {"data": {"value": "s3cret"}, "merge_existing_data": False},
                               format="json").status_code == 204
    assert authed_client.get(url + "?include_secrets=true").json()["data"] == {"value": "s3cret"}
    bad = authed_client.patch(url, {"data": {"value": ["no"]}}, format="json")
    assert bad.status_code == 422
    assert authed_client.get(url + "?include_secrets=true").json()["data"] == {"value": "s3cret"}


def test_delete_and_count(authed_client, ws):
    doc_id = create_secret(authed_client, ws).json()["id"]
    create_secret(authed_client, ws, name="other")
    assert authed_client.post(base(ws) + "block_documents/count", {}, format="json").json() == 2
    named = authed_client.post(base(ws) + "block_documents/filter",
                               {"block_documents": {"name": {"any_": ["other"]}}}, format="json").json()
    assert [d["name"] for d in named] == ["other"]
    assert authed_client.delete(base(ws) + f"block_documents/{doc_id}").status_code == 204
    assert authed_client.get(base(ws) + f"block_documents/{doc_id}").status_code == 404
    assert authed_client.post(base(ws) + "block_documents/count", {}, format="json").json() == 1


def test_another_workspaces_document_is_404_and_unchanged(authed_client, ws, organization):
    other = WorkspaceFactory(organization=organization)
    workspace_seed_blocks(workspace=other)
    doc_id = create_secret(authed_client, other).json()["id"]
    for method in ("get", "delete"):
        assert getattr(authed_client, method)(base(ws) + f"block_documents/{doc_id}").status_code == 404
    assert authed_client.patch(base(ws) + f"block_documents/{doc_id}", {"data": {"value": "x"}},
                               format="json").status_code == 404
    assert BlockDocument.objects.for_workspace(other).filter(pk=doc_id).exists()
    assert authed_client.get(base(ws) + f"block_documents/{uuid.uuid4()}").status_code == 404
    assert authed_client.get(base(ws) + "block_documents/not-a-uuid").status_code == 422


def test_stranger_cannot_see_the_workspace(api_client, ws):
    from apps.identity.services import api_key_create
    from tests.factories.identity import UserFactory

    _, key = api_key_create(owner=UserFactory(), name="x", expires_at=None)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api_client.get(base(ws) + "block_types/slug/secret").status_code == 404
    anonymous = type(api_client)()
    assert anonymous.get(base(ws) + "block_types/slug/secret").status_code == 401


def test_protected_types_cannot_be_deleted_and_custom_types_register(authed_client, ws):
    secret_type = authed_client.get(base(ws) + "block_types/slug/secret").json()
    assert authed_client.delete(base(ws) + f"block_types/{secret_type['id']}").status_code == 403
    created = authed_client.post(base(ws) + "block_types/", {"name": "My Thing", "slug": "my-thing"}, format="json")
    assert created.status_code == 201
    fields = {"title": "MyThing", "type": "object", "properties": {"n": {"title": "N", "type": "integer"}},
              "required": ["n"], "block_type_slug": "my-thing", "secret_fields": [], "block_schema_references": {}}
    first = authed_client.post(base(ws) + "block_schemas/", {"fields": fields, "block_type_id": created.json()["id"],
                               "capabilities": [], "version": "1"}, format="json")
    assert first.status_code == 201
    assert first.json()["checksum"].startswith("sha256:")
    again = authed_client.post(base(ws) + "block_schemas/", {"fields": fields, "block_type_id": created.json()["id"],
                               "capabilities": [], "version": "1"}, format="json")
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert authed_client.post(base(ws) + "block_types/", {"name": "My Thing", "slug": "my-thing"},
                              format="json").status_code == 409


def test_rotation_re_encrypts_under_the_new_key(authed_client, ws, settings):
    doc_id = create_secret(authed_client, ws).json()["id"]
    new_key = Fernet.generate_key().decode()
    from apps.engine.services.block_encryption import _derived_key

    settings.PRAETOR_BLOCK_ENCRYPTION_KEYS = [new_key, _derived_key().decode()]
    assert block_secrets_rotate() == 1
    settings.PRAETOR_BLOCK_ENCRYPTION_KEYS = [new_key]
    url = base(ws) + f"block_documents/{doc_id}?include_secrets=true"
    assert authed_client.get(url).json()["data"] == {"value": "hunter2"}


def test_document_read_query_count(authed_client, ws, django_assert_num_queries):
    doc_id = create_secret(authed_client, ws).json()["id"]
    # (key, workspace and access from the auth cache the create filled) document joined with schema and
    # type, its references
    with django_assert_num_queries(2):
        assert authed_client.get(base(ws) + f"block_documents/{doc_id}").status_code == 200


def test_optional_fields_sent_as_null_are_unset(authed_client, ws):
    """`Deployment.build_from_flow(...).apply()` saves a Process block with `command: null`: the client's
    pydantic v1 schemas leave Optional fields out of `required` without declaring them nullable."""
    block_type = authed_client.get(base(ws) + "block_types/slug/process").json()
    schema = authed_client.post(base(ws) + "block_schemas/filter",
                                {"block_schemas": {"block_type_id": {"any_": [block_type["id"]]}}},
                                format="json").json()[0]
    assert "command" not in schema["fields"].get("required", [])
    body = {"name": None, "is_anonymous": True, "block_schema_id": schema["id"], "block_type_id": block_type["id"],
            "data": {"type": "process", "env": {}, "labels": {}, "name": None, "command": None,
                     "stream_output": True, "working_dir": None}}
    response = authed_client.post(base(ws) + "block_documents/", body, format="json")
    assert response.status_code == 201, response.json()
    bad = dict(body, data={**body["data"], "command": "not a list"})
    assert authed_client.post(base(ws) + "block_documents/", bad, format="json").status_code == 422
