"""A workspace's service routes answer as Prefect 2.20's server does: health, hello, version,
admin/version, and csrf-token (422 "CSRF protection is disabled.", on which the client stops asking)."""

from __future__ import annotations

import logging
import re

import pytest
from django.urls import resolve
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


def test_the_client_probe_is_not_logged_as_an_error_but_a_bad_probe_is(authed_client, workspace, caplog):
    with caplog.at_level(logging.WARNING, logger="django.request"):
        authed_client.get(base(workspace) + "csrf-token?client=3f1c2f6e-2d53-4a4b-9f86-1b2a1f0c9d11")
        assert not caplog.records
        assert authed_client.get(base(workspace) + "csrf-token").status_code == 422  # no client: an error
        assert [r.getMessage().split(":")[0] for r in caplog.records] == ["Unprocessable Entity"]


def test_every_engine_route_resolves_to_itself_whatever_the_order():
    """apps/engine/urls.py orders the resources by how often they are called: no route may hide another. Each
    route, its parameters given a value that is no literal segment, resolves to that route."""
    from apps.engine import urls

    prefix = "/api/accounts/a/workspaces/w/"
    for pattern in urls.urlpatterns:
        for value in ("x", "health", "0a8b8f8e-64f7-4d6c-9bd1-5d7c1f0e2a3b"):
            path = prefix + re.sub(r"<[^>]+>", value, str(pattern.pattern))
            found = resolve(path)
            assert found.url_name == pattern.name and found.route.endswith(str(pattern.pattern)), (path, found)


def test_service_routes_of_a_foreign_workspace_are_404_and_need_a_key(authed_client, workspace):
    stranger = WorkspaceFactory()
    anonymous = APIClient()
    for path in ("health", "hello", "version", "admin/version", "csrf-token?client=x"):
        assert authed_client.get(base(stranger) + path).status_code == 404
        assert anonymous.get(base(workspace) + path).status_code == 401
