"""API base views. The tenant comes from the URL, is resolved once per request after authentication,
and permissions are declared by each view and checked here, in one place.

Subclasses may not override the resolving methods: tenancy is structural, not per-view diligence.
"""

from __future__ import annotations

import uuid

from rest_framework.views import APIView

from apps.access.selectors import Access, effective_access, organization_access
from apps.billing.services import read_only_check
from apps.core import authcache
from apps.core.declarations import check_view_declaration, served_methods
from apps.core.errors import NotFound, PermissionDenied
from apps.organizations.models import Organization
from apps.ratelimit.middleware import api_request_draw
from apps.workspaces.models import Workspace

AUTHENTICATED = "authenticated"  # declared by views any signed-in caller may use (e.g. /api/me)
_PROTECTED = ("initial", "resolve_tenant", "check_declared_permission")


def _as_uuid(value, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        raise NotFound(f"{what} not found.") from None


class PraetorAPIView(APIView):
    """Every API view declares `required_permissions = {METHOD: permission}` for each method it serves.

    Workspace views that let runs already under way finish (their states, task runs, logs, worker polls)
    also name those methods in `work_under_way_methods`: they stay open in a read-only workspace.
    """

    required_permissions: dict[str, str] | None = None
    work_under_way_methods: frozenset[str] = frozenset()
    abstract = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        check_view_declaration(cls, _PROTECTED)
        if not cls.__dict__.get("abstract") and not set(cls.work_under_way_methods) <= served_methods(cls):
            raise TypeError(f"{cls.__name__} names methods it does not serve in work_under_way_methods.")

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.resolve_tenant(request, kwargs)
        # Every API request draws from its organization's rate-limit bucket (429 when empty),
        # after membership is checked so an outsider cannot drain another account's allowance.
        self.rate_limit_draw(request)
        self.check_declared_permission(request)

    def rate_limit_draw(self, request) -> None:
        """Draw this request once from its rate-limit bucket, or raise RateLimited (429): one unit of the api
        bucket. An endpoint paid in another bucket overrides it (POST logs/: each message, logs_events)."""
        api_request_draw(request)

    def resolve_tenant(self, request, kwargs) -> None:
        request.access = None

    def is_work_under_way(self, request) -> bool:
        """Whether this request lets a run already under way finish (allowed in a read-only workspace).
        Overridden where only some requests of a method are (subflows, anonymous block documents)."""
        return request.method in self.work_under_way_methods

    def required_permission(self, request) -> str | None:
        declared = self.required_permissions or {}
        method = request.method
        return declared[method] if method in declared else declared.get("GET")

    def check_declared_permission(self, request) -> None:
        needed = self.required_permission(request)
        if needed is None:
            raise PermissionDenied("This endpoint declares no permission for this method.")
        if needed == AUTHENTICATED:
            return
        access: Access | None = request.access
        if access is None or not access.has(needed):
            raise PermissionDenied(f"Missing permission: {needed}.", code="missing_permission",
                                   extra={"permission": needed})
        workspace = getattr(self, "workspace", None)
        if workspace is not None:
            # Over a tier limit after a downgrade: writes are 402 until back under (reads flags already
            # loaded with the workspace and the access; free when writable).
            read_only_check(workspace=workspace, access=access, permission=needed,
                            work_under_way=lambda: self.is_work_under_way(request))


class AccountAPIView(PraetorAPIView):
    """Views under /api/accounts/{account_id}/: the organization is resolved and membership required."""

    abstract = True
    organization: Organization

    def resolve_tenant(self, request, kwargs) -> None:
        org_id = _as_uuid(kwargs.get("account_id"), "Account")
        access = organization_access(request.user, org_id)
        if not access.is_member:
            raise NotFound("Account not found.")
        organization = Organization.objects.filter(pk=org_id).first()
        if organization is None:
            raise NotFound("Account not found.")
        self.organization = organization
        request.organization = organization
        request.access = access


def _workspace_key(actor, org_id: uuid.UUID, ws_id: uuid.UUID) -> tuple:
    return ("workspace", type(actor).__name__, getattr(actor, "pk", None), org_id, ws_id)


def workspace_context(actor, org_id: uuid.UUID, ws_id: uuid.UUID) -> tuple[Workspace, Access]:
    """The one place a workspace URL is resolved for a caller: the workspace (with its organization)
    and the caller's effective access, or NotFound when it does not exist or the caller has no access.

    Two queries, or none while the answer is in the per-process auth cache (apps/core/authcache.py: a
    change of access through a service is seen within about a second). The rows it returns are
    shared by the requests that hit the cache: read them, never change them in place.
    """
    cache_key = _workspace_key(actor, org_id, ws_id)
    cached = authcache.get(cache_key)
    if cached is not None:
        return cached
    workspace = Workspace.objects.for_organization(org_id).select_related("organization").filter(pk=ws_id).first()
    if workspace is None:
        raise NotFound("Workspace not found.")
    access = effective_access(actor, workspace)
    if not access.is_member:
        raise NotFound("Workspace not found.")
    authcache.put(cache_key, (workspace, access))
    return workspace, access


def _with_organization(cached: tuple) -> tuple:
    """(workspace, access, the workspace's organization) of workspace_context's cached (workspace, access): the
    organization loaded with the workspace (select_related), the object `workspace.organization` gives."""
    workspace, access = cached
    return workspace, access, workspace.organization


class WorkspaceAPIView(PraetorAPIView):
    """Views under /api/accounts/{account_id}/workspaces/{workspace_id}/: the workspace is resolved and
    the caller's effective access computed once. No access at all → 404, as if it did not exist."""

    abstract = True
    workspace: Workspace

    def resolve_tenant(self, request, kwargs) -> None:
        account, space, actor = kwargs.get("account_id"), kwargs.get("workspace_id"), request.user
        # workspace_context's cached answer found by the URL's own spelling of the ids, without parsing them, with
        # the workspace's organization: an entry derived from that one (authcache.derive: its age, emptied with it),
        # so it lives and goes exactly as that one does. The actor by its `id` (User's and ServiceAccount's pk
        # attname; AnonymousUser's id is its pk, None), not the `pk` property (two Python calls).
        ident = getattr(actor, "id", None)
        if type(ident) is uuid.UUID:
            ident = ident.int  # hashed in C (UUID.__hash__ is a Python call); one UUID has one int
        path_key = ("workspace path", type(actor).__name__, ident, account, space)
        cached = authcache.get(path_key) if type(account) is str and type(space) is str else None
        if cached is None:
            org_id = _as_uuid(account, "Workspace")
            ws_id = _as_uuid(space, "Workspace")
            workspace, access = workspace_context(actor, org_id, ws_id)
            organization = workspace.organization
            if type(account) is str and type(space) is str:
                authcache.derive(path_key, _workspace_key(actor, org_id, ws_id), _with_organization)
        else:
            workspace, access, organization = cached
        self.workspace = workspace
        self.organization = organization
        request.workspace = workspace
        request.organization = organization
        request.access = access
