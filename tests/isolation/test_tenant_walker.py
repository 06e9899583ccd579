"""Tenant isolation, walked over every route under /api/accounts/{a}/… found in the URL resolver (management
and workspace engine routes alike, so a route added later is covered the day it lands).

Organization B is filled with real objects: its members, invitation, team, service account and key, grants,
custom role, and one row of every workspace-scoped model (made generically from the model's fields, so new
engine models get a row too). Then, for every route and every method it serves:

- an Owner of organization A (personal key) and an Admin service account of A (pnb_ key) call B's URLs,
  filled with the ids of B's real objects → 404 "Account/Workspace not found.";
- A's Owner calls A's account with B's workspace id → 404 "Workspace not found.";
- a member of B with a grant on B's first workspace only calls B's second workspace → 404;
- A's Owner calls A's own account and workspace with the ids, names and slugs of B's objects → 404, or
  exactly the status that naming a missing object gets, and no id of B's in any body;

never a 200 or 403 that tells B's objects exist, and B's data, memberships, keys and audit trail are exactly
as before.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import pytest
from django.apps import apps as django_apps
from django.db import IntegrityError, models, transaction
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern
from django.utils import timezone
from rest_framework.test import APIClient

from apps.access import catalog
from apps.audit.models import AuditEvent
from apps.core.models import OrganizationScopedModel, WorkspaceScopedModel
from apps.identity.models import ApiKey, User
from apps.identity.services import api_key_create
from apps.organizations import services as org_services
from apps.organizations.models import Organization, Tier
from tests.factories.access import add_to_team, custom_role, grant
from tests.factories.identity import UserFactory
from tests.factories.organizations import OrganizationFactory, ServiceAccountFactory, TeamFactory, membership
from tests.factories.workspaces import WorkspaceFactory

pytestmark = pytest.mark.django_db

ACCOUNT_PREFIX = "api/accounts/<str:account_id>"
TENANT_PARAMS = {"account_id", "workspace_id"}
_PARAM = re.compile(r"<(?:[^>:]+:)?(?P<name>[^>]+)>")
TENANT_MISS = {"Account not found.", "Workspace not found."}


# --- routes, from the resolver ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    route: str
    view: type

    @property
    def params(self) -> list[str]:
        return _PARAM.findall(self.route)

    @property
    def methods(self) -> list[str]:
        served = [m.upper() for m in self.view.http_method_names if hasattr(self.view, m) and m not in ("options",
                                                                                                        "head")]
        return sorted(served, key=lambda m: m == "DELETE")  # destructive last


def _walk(patterns, prefix=""):
    for p in patterns:
        route = p.pattern._route if isinstance(p.pattern, RoutePattern) else str(p.pattern.regex.pattern)
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + route)
        elif isinstance(p, URLPattern):
            view = getattr(p.callback, "view_class", None) or getattr(p.callback, "cls", None)
            yield prefix + route, view


def account_routes() -> list[Route]:
    found = [Route(route, view) for route, view in _walk(get_resolver().url_patterns)
             if route.startswith(ACCOUNT_PREFIX) and view is not None]
    assert found, "no routes under /api/accounts/ found"
    return found


# --- organization B's real objects ----------------------------------------------------------------------------


def _snake_plural(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower() + "s"


def _models_by_plural() -> dict[str, type[models.Model]]:
    tenant_models = [m for m in django_apps.get_models()
                     if issubclass(m, WorkspaceScopedModel | OrganizationScopedModel)]
    return {_snake_plural(m.__name__): m for m in tenant_models}


def _unique_text(field) -> str:
    value = f"iso-{uuid.uuid4().hex}"
    return value[: field.max_length] if getattr(field, "max_length", None) else value


def make_row(model, *, workspace, organization, user, depth=0):
    """One row of a tenant model with every required field filled from its type; related workspace rows are
    made the same way. Returns None when the model's own constraints refuse a generic row."""
    values = {}
    for field in model._meta.concrete_fields:
        if field.primary_key or field.has_default() or field.null or getattr(field, "auto_now", False) \
                or getattr(field, "auto_now_add", False):
            continue
        if field.is_relation:
            target = field.related_model
            if target._meta.label == "workspaces.Workspace":
                values[field.name] = workspace
            elif target._meta.label == "organizations.Organization":
                values[field.name] = organization
            elif target is User:
                values[field.name] = user
            elif issubclass(target, WorkspaceScopedModel | OrganizationScopedModel) and depth < 4:
                related = make_row(target, workspace=workspace, organization=organization, user=user,
                                   depth=depth + 1)
                if related is None:
                    return None
                values[field.name] = related
            else:
                return None
        elif field.choices:
            values[field.name] = field.choices[0][0]
        elif isinstance(field, models.CharField | models.TextField):
            values[field.name] = _unique_text(field)
        elif isinstance(field, models.IntegerField | models.FloatField | models.DecimalField):
            values[field.name] = 0
        elif isinstance(field, models.BooleanField):
            values[field.name] = False
        elif isinstance(field, models.DateTimeField):
            values[field.name] = timezone.now()
        elif isinstance(field, models.UUIDField):
            values[field.name] = uuid.uuid4()
        elif isinstance(field, models.JSONField):
            values[field.name] = {}
        else:
            return None
    try:
        with transaction.atomic():
            return model._default_manager.create(**values)
    except (IntegrityError, ValueError, TypeError):
        return None


@dataclass
class TenantB:
    organization: Organization
    workspace: object
    second_workspace: object
    values: dict  # route parameter name → value naming one of B's real objects
    rows: dict  # plural resource name → one of B's rows of that model


def build_tenant_b() -> TenantB:
    org = OrganizationFactory(tier=Tier.ENTERPRISE)
    owner = UserFactory()
    membership(org, owner, "owner")
    member = UserFactory()
    member_ms = membership(org, member, "member")
    ws = WorkspaceFactory(organization=org)
    ws2 = WorkspaceFactory(organization=org)
    team = TeamFactory(organization=org)
    add_to_team(team, member)
    bot = ServiceAccountFactory(organization=org)
    bot_key, _ = api_key_create(owner=bot, name="b", expires_at=None)
    role = custom_role(org, name="B role")
    grant(ws, user=member, role=catalog.COLLABORATOR)
    team_grant = grant(ws, team=team, role=catalog.READ_ONLY_COLLABORATOR)
    grant(ws, service_account=bot, role=catalog.COLLABORATOR)
    invitation, _ = org_services.invitation_create(organization=org, email="invitee@example.com", actor=None)

    rows: dict = {}
    for plural, model in _models_by_plural().items():
        if issubclass(model, WorkspaceScopedModel):
            row = make_row(model, workspace=ws, organization=org, user=member)
            if row is not None:
                rows[plural] = row
    values = {
        "account_id": org.pk, "workspace_id": ws.pk, "role_id": role.pk, "membership_id": member_ms.pk,
        "invitation_id": invitation.pk, "team_id": team.pk, "member_id": member.pk, "bot_id": bot.pk,
        "key_id": bot_key.pk, "access_id": team_grant.pk,
    }
    return TenantB(org, ws, ws2, values, rows)


_NOT_RESOURCES = {"name", "slug", "checksum", "latest", "filter", "count", "tag", "id"}


def value_for(param: str, route: str, b: TenantB):
    """The value naming one of B's objects for this route parameter: a known id, else the row of the model
    the nearest resource segment before the parameter names (`flow_runs/<id>` → a FlowRun's id,
    `variables/name/<name>` → a Variable's name). None when no row of B fits."""
    if param in b.values:
        return b.values[param]
    before = route.split(f"<str:{param}>")[0].strip("/").split("/")
    segment = next((s for s in reversed(before) if s and "<" not in s and s not in _NOT_RESOURCES), None)
    row = b.rows.get(segment)
    if row is None:
        return None
    attr = "pk" if param == "id" or (param.endswith("_id") and not hasattr(row, param)) else param
    value = getattr(row, attr, None)
    if value in (None, "") and attr != "pk" and hasattr(row, attr):
        value = f"iso-{uuid.uuid4().hex[:12]}"
        type(row)._default_manager.filter(pk=row.pk).update(**{attr: value})
    return value


def fill(route: Route, b: TenantB, overrides: dict) -> tuple[str, list[str]]:
    """The URL with every parameter filled; also the parameters no real object of B could fill."""
    unresolved = []

    def sub(match):
        name = match.group("name")
        if name in overrides:
            return str(overrides[name])
        value = value_for(name, route.route, b)
        if value is None:
            unresolved.append(name)
            value = uuid.uuid4()
        return str(value)

    return "/" + _PARAM.sub(sub, route.route), unresolved


# --- B's state, to prove nothing changed ------------------------------------------------------------------------


def snapshot(b: TenantB) -> dict:
    state = {}
    for model in django_apps.get_models():
        if issubclass(model, WorkspaceScopedModel):
            qs = model._default_manager.filter(workspace__organization_id=b.organization.pk)
        elif issubclass(model, OrganizationScopedModel):
            qs = model._default_manager.filter(organization_id=b.organization.pk)
        else:
            continue
        fields = ["pk"] + [f for f in ("updated", "role", "status", "name") if f in {x.name for x in
                                                                                       model._meta.concrete_fields}]
        state[model._meta.label] = sorted(map(str, qs.values_list(*fields)))
    org = Organization.objects.get(pk=b.organization.pk)
    state["organization"] = (org.name, org.handle, org.tier, str(org.updated))
    state["keys"] = sorted(map(str, ApiKey.objects.filter(service_account__organization_id=b.organization.pk)
                               .values_list("pk", "revoked_at", "expires_at")))
    # The probing keys' own created/first-used events are the only ones allowed (a member of B probes too).
    state["audit"] = (AuditEvent.objects.filter(organization_id=b.organization.pk)
                      .exclude(action__in=["praetor.api_key.created", "praetor.api_key.first_used"]).count())
    return state


def client_for(actor) -> APIClient:
    _, secret = api_key_create(owner=actor, name="walker", expires_at=None)
    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return c


def _detail(response):
    try:
        body = response.json()
    except (ValueError, TypeError):
        return None
    return body.get("detail") if isinstance(body, dict) else None


def probe(client, routes, make_url, expect_detail) -> list[str]:
    """Call every route with every method it serves; return what was not a 404 with an allowed detail."""
    failures = []
    for route in routes:
        url = make_url(route)
        if url is None:
            continue
        for method in route.methods:
            response = getattr(client, method.lower())(url, {}, format="json")
            detail = _detail(response)
            if response.status_code != 404 or (expect_detail is not None and detail not in expect_detail):
                failures.append(f"{method} {url} ({route.route}): {response.status_code} {detail!r}")
    return failures


@pytest.fixture
def tenants():
    org_a = OrganizationFactory(tier=Tier.ENTERPRISE)
    owner_a = UserFactory()
    membership(org_a, owner_a, "owner")
    ws_a = WorkspaceFactory(organization=org_a)
    admin_bot_a = ServiceAccountFactory(organization=org_a, role="admin")
    return org_a, ws_a, owner_a, admin_bot_a, build_tenant_b()


def test_another_organizations_keys_get_404_on_every_route(tenants):
    org_a, ws_a, owner_a, admin_bot_a, b = tenants
    routes = account_routes()
    before = snapshot(b)
    unresolved: set[tuple[str, str]] = set()

    def b_url(route):
        url, missing = fill(route, b, {})
        unresolved.update((route.route, name) for name in missing)
        return url

    failures = probe(client_for(owner_a), routes, b_url, TENANT_MISS)
    failures += probe(client_for(admin_bot_a), routes, b_url, TENANT_MISS)
    assert failures == []
    assert snapshot(b) == before
    # Every management route is filled with ids of B's real objects (engine routes too, where B has the model).
    management = {(r, n) for r, n in unresolved if "/workspaces/<str:workspace_id>/" not in r}
    assert management == set()


def test_a_workspace_of_another_organization_under_ones_own_account_is_404(tenants):
    org_a, ws_a, owner_a, admin_bot_a, b = tenants
    routes = [r for r in account_routes() if "workspace_id" in r.params]
    assert len(routes) > 10
    before = snapshot(b)
    failures = probe(client_for(owner_a), routes,
                     lambda r: fill(r, b, {"account_id": org_a.pk, "workspace_id": b.workspace.pk})[0],
                     {"Workspace not found."})
    assert failures == []
    assert snapshot(b) == before


def test_a_member_without_access_to_a_workspace_gets_404_there(tenants):
    *_, b = tenants
    member = UserFactory()
    membership(b.organization, member, "member")
    grant(b.second_workspace, user=member, role=catalog.ADMINISTRATOR)  # access to the second workspace only
    routes = [r for r in account_routes() if "workspace_id" in r.params]
    before = snapshot(b)
    failures = probe(client_for(member), routes, lambda r: fill(r, b, {"workspace_id": b.workspace.pk})[0],
                     {"Workspace not found."})
    assert failures == []
    assert snapshot(b) == before


def b_identifiers(b: TenantB) -> set[str]:
    """Every id of B's objects (and of its people), as they would appear in a response body."""
    ids = {str(v) for v in b.values.values()} | {str(b.organization.pk), str(b.workspace.pk)}
    for model in django_apps.get_models():
        if issubclass(model, WorkspaceScopedModel):
            ids |= {str(pk) for pk in model._default_manager.filter(
                workspace__organization_id=b.organization.pk).values_list("pk", flat=True)}
        elif issubclass(model, OrganizationScopedModel):
            ids |= {str(pk) for pk in model._default_manager.filter(
                organization_id=b.organization.pk).values_list("pk", flat=True)}
    ids |= {str(pk) for pk in User.objects.filter(memberships__organization_id=b.organization.pk)
            .values_list("pk", flat=True)}
    return ids


def test_ids_of_another_organizations_objects_are_404_in_ones_own_scope(tenants):
    """In one's own account and workspace, naming B's objects answers 404, or exactly what naming objects that
    do not exist answers (a body error checked before the lookup, a get-or-create by name made in one's own
    workspace): never an answer that differs because B's object exists, and never one of B's ids."""
    org_a, ws_a, owner_a, admin_bot_a, b = tenants
    routes = [r for r in account_routes() if set(r.params) - TENANT_PARAMS]
    assert len(routes) > 10
    before = snapshot(b)
    secret_ids = b_identifiers(b)
    client = client_for(owner_a)
    own = {"account_id": org_a.pk, "workspace_id": ws_a.pk}
    checked, failures = [], []
    for route in routes:
        url, missing = fill(route, b, own)
        if missing:
            continue  # no object of B fits this parameter: the tenant-level walks above still cover it
        checked.append(route.route)
        for method in route.methods:
            absent = {name: f"iso-{uuid.uuid4().hex[:12]}" if name not in ("id",) and not name.endswith("_id")
                      else uuid.uuid4() for name in set(route.params) - TENANT_PARAMS}
            control_url, _ = fill(route, b, {**own, **absent})
            response = getattr(client, method.lower())(url, {}, format="json")
            body = response.content.decode(errors="replace")
            leaked = sorted(i for i in secret_ids if i in body)
            if leaked:
                failures.append(f"{method} {route.route}: body shows B's ids {leaked}")
            if response.status_code == 404:
                continue
            control = getattr(client, method.lower())(control_url, {}, format="json")
            if control.status_code != response.status_code:
                failures.append(f"{method} {route.route}: {response.status_code} for B's object, "
                                f"{control.status_code} for a missing one")
    assert failures == []
    assert snapshot(b) == before
    # Management object routes and the engine's by-id routes are all among those checked.
    assert {"api/accounts/<str:account_id>/teams/<str:team_id>",
            "api/accounts/<str:account_id>/bots/<str:bot_id>/api_keys/<str:key_id>",
            "api/accounts/<str:account_id>/account_memberships/<str:membership_id>"} <= set(checked)
    assert any(route.endswith("block_documents/<str:id>") for route in checked)
