"""Every API route declares its permissions, and every workspace and account endpoint answers each role
as the catalog says: allowed → neither 403 nor "not found" for the workspace; lacking the permission →
403 naming it; no access → 404. Generic over the URL resolver, so new endpoints are covered as they land."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import pytest
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern
from rest_framework.test import APIClient

from apps.access import catalog
from apps.access.selectors import organization_access
from apps.core.api.views import AUTHENTICATED, AccountAPIView, PraetorAPIView, WorkspaceAPIView
from apps.identity.services import api_key_create
from apps.organizations.models import Tier
from tests.factories.access import grant
from tests.factories.identity import UserFactory
from tests.factories.organizations import OrganizationFactory, membership
from tests.factories.workspaces import WorkspaceFactory

# Third-party views mounted under /api/ that are not ours to declare permissions on.
NOT_OURS = {"SpectacularAPIView", "SpectacularSwaggerView"}
WS_NOT_FOUND = "Workspace not found."
ACCOUNT_NOT_FOUND = "Account not found."


@dataclass(frozen=True)
class Route:
    route: str
    view: type


def _walk(patterns, prefix=""):
    for p in patterns:
        route = str(p.pattern.regex.pattern) if not isinstance(p.pattern, RoutePattern) else p.pattern._route
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + route)
        elif isinstance(p, URLPattern):
            view = getattr(p.callback, "view_class", None) or getattr(p.callback, "cls", None)
            yield prefix + route, p, view


def api_routes() -> list[Route]:
    return [Route(route, view) for route, _, view in _walk(get_resolver().url_patterns) if route.startswith("api/")]


def test_every_api_route_declares_its_permissions():
    undeclared = []
    for r in api_routes():
        if r.view is not None and r.view.__name__ in NOT_OURS:
            continue
        if r.view is None or not issubclass(r.view, PraetorAPIView) or not isinstance(r.view.required_permissions,
                                                                                       dict):
            undeclared.append(r.route)
    assert undeclared == []


def test_every_declared_permission_is_in_the_catalog():
    unknown = set()
    for r in api_routes():
        if r.view is not None and issubclass(r.view, PraetorAPIView):
            for permission in r.view.required_permissions.values():
                if permission != AUTHENTICATED and permission not in catalog.PERMISSIONS:
                    unknown.add((r.route, permission))
    assert unknown == set()


def test_workspace_views_declare_workspace_permissions():
    wrong = [(r.route, p) for r in api_routes() if r.view and issubclass(r.view, WorkspaceAPIView)
             for p in r.view.required_permissions.values() if p not in catalog.WORKSPACE_KEYS]
    assert wrong == []


_PARAM = re.compile(r"<(?:(?P<conv>[^>:]+):)?(?P<name>[^>]+)>")


def _url(route: str, values: dict) -> str:
    def fill(m):
        return str(values.get(m.group("name"), uuid.uuid4()))

    return "/" + _PARAM.sub(fill, route)


def _served_methods(view) -> list[str]:
    methods = [m.upper() for m in view.http_method_names if hasattr(view, m) and m not in ("options", "head")]
    return sorted(methods, key=lambda m: m == "DELETE")  # destructive last


def _client(actor) -> APIClient:
    _, secret = api_key_create(owner=actor, name="matrix", expires_at=None)
    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return c


def _send(client, method, url):
    # Each probe runs in a savepoint that is rolled back, so one probe's writes never affect the next.
    with transaction.atomic():
        response = getattr(client, method.lower())(url, {}, format="json")
        transaction.set_rollback(True)
    return response


def _detail(response):
    if "json" not in (response.get("Content-Type") or ""):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("detail") if isinstance(body, dict) else None


WORKSPACE_ROLES = {
    "administrator": catalog.ADMINISTRATOR,
    "collaborator": catalog.COLLABORATOR,
    "read_only_collaborator": catalog.READ_ONLY_COLLABORATOR,
    "no_access": None,
}


@pytest.mark.django_db
@pytest.mark.parametrize("role_key", list(WORKSPACE_ROLES))
def test_workspace_endpoint_matrix(role_key):
    org = OrganizationFactory(tier=Tier.GROWTH)
    ws = WorkspaceFactory(organization=org)
    user = UserFactory()
    membership(org, user, "member")
    role = WORKSPACE_ROLES[role_key]
    if role is not None:
        grant(ws, user=user, role=role)
    client = _client(user)
    routes = [r for r in api_routes() if r.view and issubclass(r.view, WorkspaceAPIView)]
    assert routes, "no workspace endpoints found"
    failures = []
    for r in routes:
        url = _url(r.route, {"account_id": org.pk, "workspace_id": ws.pk})
        for method in _served_methods(r.view):
            needed = r.view.required_permissions.get(method, r.view.required_permissions.get("GET"))
            resp = _send(client, method, url)
            detail = _detail(resp)
            if role is None:
                ok = resp.status_code == 404 and detail == WS_NOT_FOUND
            elif needed in role.permissions:
                ok = resp.status_code != 403 and detail != WS_NOT_FOUND and resp.status_code < 500
            else:
                ok = resp.status_code == 403 and detail == f"Missing permission: {needed}."
            if not ok:
                failures.append(f"{method} {r.route} needs {needed}: {resp.status_code} {detail!r}")
    assert failures == []


ORG_ROLES = ["owner", "admin", "member", "stranger"]


@pytest.mark.django_db
@pytest.mark.parametrize("org_role", ORG_ROLES)
def test_account_endpoint_matrix(org_role):
    org = OrganizationFactory(tier=Tier.ENTERPRISE)
    ws = WorkspaceFactory(organization=org)
    user = UserFactory()
    if org_role != "stranger":
        membership(org, user, org_role)
    held = organization_access(user, org.pk).permissions
    client = _client(user)
    routes = [r for r in api_routes() if r.view and issubclass(r.view, AccountAPIView)]
    assert routes, "no account endpoints found"
    failures = []
    for r in routes:
        url = _url(r.route, {"account_id": org.pk, "workspace_id": ws.pk})
        for method in _served_methods(r.view):
            needed = r.view.required_permissions.get(method, r.view.required_permissions.get("GET"))
            resp = _send(client, method, url)
            detail = _detail(resp)
            if org_role == "stranger":
                ok = resp.status_code == 404 and detail == ACCOUNT_NOT_FOUND
            elif needed == AUTHENTICATED or needed in held:
                ok = resp.status_code != 403 and detail != ACCOUNT_NOT_FOUND and resp.status_code < 500
            else:
                ok = resp.status_code == 403 and detail == f"Missing permission: {needed}."
            if not ok:
                failures.append(f"{method} {r.route} needs {needed}: {resp.status_code} {detail!r}")
    assert failures == []
