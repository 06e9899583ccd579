"""The OpenAPI document: generated with no warnings or errors, valid, every operation with a unique
operationId and typed responses; served at /api/schema/ and browsable at /api/docs/."""

from collections import Counter

import pytest

pytestmark = pytest.mark.django_db

HTTP_METHODS = {"get", "put", "post", "patch", "delete"}


def _generate():
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.validation import validate_schema

    GENERATOR_STATS.reset()
    schema = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(schema)  # against the OpenAPI 3 specification
    return schema, dict(GENERATOR_STATS._warn_cache), dict(GENERATOR_STATS._error_cache)


def test_schema_generates_without_errors_or_warnings():
    schema, warnings, errors = _generate()
    assert errors == {}
    # Warnings catch unresolvable serializers, untyped path parameters, operationId collisions, two different
    # serializers under one component name (an incorrect schema), unnamed enum collisions, unknown authenticators.
    assert list(warnings) == []
    assert len(schema["paths"]) > 50


def test_the_management_api_generates_without_any_warning():
    _, warnings, _ = _generate()
    ours = ("apps/organizations/", "apps/workspaces/", "apps/identity/", "apps/access/", "apps/audit/",
            "apps/billing/")
    assert [w for w in warnings if any(part in w for part in ours)] == []


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from rest_framework.test import APIClient

    with django_db_blocker.unblock():
        response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def _operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def test_every_operation_has_a_unique_operation_id(schema):
    ids = Counter(op["operationId"] for _, _, op in _operations(schema))
    assert ids and [name for name, count in ids.items() if count > 1] == []


def test_every_operation_documents_its_responses(schema):
    undocumented = [f"{m.upper()} {p}" for p, m, op in _operations(schema) if not op.get("responses")]
    assert undocumented == []


def test_management_paths_follow_cloud(schema):
    paths = set(schema["paths"])
    assert {
        "/api/accounts/{account_id}", "/api/accounts/{account_id}/workspaces/",
        "/api/accounts/{account_id}/workspaces/{workspace_id}", "/api/accounts/{account_id}/account_memberships/filter",
        "/api/accounts/{account_id}/bots/", "/api/accounts/{account_id}/bots/{bot_id}/rotate_api_key",
        "/api/accounts/{account_id}/teams/{team_id}/members", "/api/users/{user_id}/api_keys",
        "/api/me/workspaces", "/api/accounts/{account_id}/invitations/",
    } <= paths
    # Trailing-slash twins are served but documented once.
    assert not {p.rstrip("/") for p in paths if p.endswith("/")} & {p for p in paths if not p.endswith("/")}


def test_bearer_api_keys_are_the_documented_security_scheme(schema):
    schemes = schema["components"]["securitySchemes"]
    assert schemes["apiKey"] == {"type": "http", "scheme": "bearer",
                                 "description": "A personal (pnu_…) or service account (pnb_…) API key."}


def test_docs_page_is_served(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()
