"""A workspace's service routes answer as Prefect 2.20's server does: health, hello, version,
admin/version, and csrf-token (422 "CSRF protection is disabled.", on which the client stops asking)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.factories.workspaces import WorkspaceFactory

pytestmark = pytest.mark.django_db


def base(ws) -> str:
    return f"/api/accounts/{ws.organization_id}/workspaces/{ws.pk}/"


def test_service_routes(authed_client, workspace):
    assert authed_client.get(base(workspace) + "health").json() is True
    assert authed_client.get(base(workspace) + "hello").json() == "👋"
    assert authed_client.get(base(workspace) + "version").json() == "0.8.4"
    assert authed_client.get(base(workspace) + "admin/version").json() == "2.20.26"
    csrf = authed_client.get(base(workspace) + "csrf-token?client=3f1c2f6e-2d53-4a4b-9f86-1b2a1f0c9d11")
    assert (csrf.status_code, csrf.json()) == (422, {"detail": "CSRF protection is disabled."})
    assert authed_client.get(base(workspace) + "csrf-token").status_code == 422


def test_service_routes_of_a_foreign_workspace_are_404_and_need_a_key(authed_client, workspace):
    stranger = WorkspaceFactory()
    anonymous = APIClient()
    for path in ("health", "hello", "version", "admin/version", "csrf-token?client=x"):
        assert authed_client.get(base(stranger) + path).status_code == 404
        assert anonymous.get(base(workspace) + path).status_code == 401
