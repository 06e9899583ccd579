"""Access endpoints: the permission catalog, workspace roles (built-in and custom) and workspace grants.

Paths and shapes follow Prefect Cloud (shared/prefect2-compat/cloud-api.md)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from apps.access import selectors, services
from apps.access.api import serializers as s
from apps.audit.services import RequestContext
from apps.core.api.pagination import parse_limit_offset
from apps.core.api.views import AUTHENTICATED, AccountAPIView, PraetorAPIView, WorkspaceAPIView
from apps.core.errors import Conflict


class WorkspaceScopesView(PraetorAPIView):
    """The permission catalog, for building custom roles."""

    required_permissions = {"GET": AUTHENTICATED}
    pagination_class = None

    @extend_schema(responses=s.WorkspaceScopeOutput(many=True), operation_id="workspace_scopes_list")
    def get(self, request):
        return Response(s.WorkspaceScopeOutput(s.scope_rows(), many=True).data)


def _page(rows: list, source) -> list:
    limit, offset = parse_limit_offset(source)
    return rows[offset : offset + limit]


class WorkspaceRolesView(AccountAPIView):
    required_permissions = {"GET": "organization:read", "POST": "organization:manage"}

    @extend_schema(responses=s.WorkspaceRoleOutput(many=True), operation_id="workspace_roles_list")
    def get(self, request, account_id):
        rows = selectors.workspace_role_list(organization=self.organization)
        return Response([s.role_row(r) for r in _page(rows, request.query_params)])

    @extend_schema(request=s.WorkspaceRoleCreateInput, responses={201: s.WorkspaceRoleOutput},
                   operation_id="workspace_roles_create")
    def post(self, request, account_id):
        data = _valid(s.WorkspaceRoleCreateInput, request.data)
        role = services.custom_role_create(
            organization=self.organization, name=data["name"], description=data["description"],
            scopes=data["scopes"], inherited_role_id=data["inherited_role_id"], actor=request.user,
            context=RequestContext.from_request(request),
        )
        view = selectors.workspace_role_get(organization=self.organization, role_id=role.pk)
        return Response(s.role_row(view), status=status.HTTP_201_CREATED)


class WorkspaceRolesFilterView(AccountAPIView):
    required_permissions = {"POST": "organization:read"}

    @extend_schema(request=s.WorkspaceRoleFilterInput, responses=s.WorkspaceRoleOutput(many=True),
                   operation_id="workspace_roles_filter")
    def post(self, request, account_id):
        data = _valid(s.WorkspaceRoleFilterInput, request.data or {})
        rows = selectors.workspace_role_list(organization=self.organization)
        names = ((data.get("workspace_roles") or {}).get("name") or {}).get("any_")
        if isinstance(names, list):
            rows = [r for r in rows if r.name in names]
        return Response([s.role_row(r) for r in _page(rows, data)])


class WorkspaceRoleDetailView(AccountAPIView):
    required_permissions = {"GET": "organization:read", "PATCH": "organization:manage",
                            "DELETE": "organization:manage"}

    def _custom(self, role_id):
        role = selectors.workspace_role_get(organization=self.organization, role_id=role_id)
        if role.is_built_in:
            raise Conflict("Built-in workspace roles cannot be changed.", code="built_in_role")
        return role.custom_role

    @extend_schema(responses=s.WorkspaceRoleOutput, operation_id="workspace_roles_read")
    def get(self, request, account_id, role_id):
        return Response(s.role_row(selectors.workspace_role_get(organization=self.organization, role_id=role_id)))

    @extend_schema(request=s.WorkspaceRoleUpdateInput, responses={204: None}, operation_id="workspace_roles_update")
    def patch(self, request, account_id, role_id):
        data = _valid(s.WorkspaceRoleUpdateInput, request.data)
        role = self._custom(role_id)
        services.custom_role_update(
            role=role, organization=self.organization, name=data.get("name"), description=data.get("description"),
            scopes=data.get("scopes"), inherited_role_id=data.get("inherited_role_id", ...), actor=request.user,
            context=RequestContext.from_request(request),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses={204: None}, operation_id="workspace_roles_delete")
    def delete(self, request, account_id, role_id):
        role = self._custom(role_id)
        services.custom_role_delete(role=role, organization=self.organization, actor=request.user,
                                    context=RequestContext.from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _valid(serializer_class, data, many: bool = False):
    serializer = serializer_class(data=data, many=many)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class _AccessListView(WorkspaceAPIView):
    """GET lists the workspace's grants of one principal type; POST (PUT for teams, as on Cloud) grants
    a list of roles all-or-nothing and answers the resulting grants."""

    abstract = True
    principal_type = ""
    id_field = ""
    input_serializer = None

    def _render(self, grants) -> list[dict]:
        return [s.access_row(g, selectors.role_view_for_grant(g)) for g in grants]

    def list(self, request):
        grants = selectors.workspace_grant_list(workspace=self.workspace, principal_type=self.principal_type)
        limit, offset = parse_limit_offset(request.query_params)
        return Response(self._render(grants[offset : offset + limit]))

    def grant(self, request):
        body = request.data if isinstance(request.data, list) else [request.data]
        rows = _valid(self.input_serializer, body, many=True)
        grants = services.workspace_access_set_many(
            workspace=self.workspace, principal_type=self.principal_type,
            entries=[(row[self.id_field], row["workspace_role_id"]) for row in rows],
            actor=request.user, context=RequestContext.from_request(request),
        )
        ids = [g.pk for g in grants]
        fresh = selectors.workspace_grant_list(workspace=self.workspace).filter(pk__in=ids)
        return Response(self._render(fresh), status=status.HTTP_200_OK)


class _AccessDetailView(WorkspaceAPIView):
    abstract = True
    principal_type = ""
    required_permissions = {"GET": "workspace:read", "DELETE": "workspace:manage_access"}

    def is_work_under_way(self, request) -> bool:
        # Read-only workspaces (over a tier limit) refuse writes, but revoking a grant only takes access away,
        # as cancelling a run only stops work: being over a limit must never keep someone in a workspace.
        return request.method == "DELETE"

    @extend_schema(responses=s.WorkspaceAccessOutput)
    def get(self, request, account_id, workspace_id, access_id):
        grant = selectors.workspace_grant_get(workspace=self.workspace, grant_id=access_id,
                                              principal_type=self.principal_type)
        return Response(s.access_row(grant, selectors.role_view_for_grant(grant)))

    @extend_schema(responses={204: None})
    def delete(self, request, account_id, workspace_id, access_id):
        grant = selectors.workspace_grant_get(workspace=self.workspace, grant_id=access_id,
                                              principal_type=self.principal_type)
        services.workspace_access_delete(grant=grant, actor=request.user,
                                         context=RequestContext.from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserAccessView(_AccessListView):
    principal_type, id_field, input_serializer = "user", "user_id", s.UserAccessInput
    required_permissions = {"GET": "workspace:read", "POST": "workspace:manage_access"}

    @extend_schema(responses=s.WorkspaceAccessOutput(many=True), operation_id="workspace_user_access_list")
    def get(self, request, account_id, workspace_id):
        return self.list(request)

    @extend_schema(request=s.UserAccessInput(many=True), responses=s.WorkspaceAccessOutput(many=True),
                   operation_id="workspace_user_access_grant")
    def post(self, request, account_id, workspace_id):
        return self.grant(request)


class BotAccessView(_AccessListView):
    principal_type, id_field, input_serializer = "service_account", "bot_id", s.BotAccessInput
    required_permissions = {"GET": "workspace:read", "POST": "workspace:manage_access"}

    @extend_schema(responses=s.WorkspaceAccessOutput(many=True), operation_id="workspace_bot_access_list")
    def get(self, request, account_id, workspace_id):
        return self.list(request)

    @extend_schema(request=s.BotAccessInput(many=True), responses=s.WorkspaceAccessOutput(many=True),
                   operation_id="workspace_bot_access_grant")
    def post(self, request, account_id, workspace_id):
        return self.grant(request)


class TeamAccessView(_AccessListView):
    principal_type, id_field, input_serializer = "team", "team_id", s.TeamAccessInput
    required_permissions = {"GET": "workspace:read", "PUT": "workspace:manage_access",
                            "POST": "workspace:manage_access"}

    @extend_schema(responses=s.WorkspaceAccessOutput(many=True), operation_id="workspace_team_access_list")
    def get(self, request, account_id, workspace_id):
        return self.list(request)

    @extend_schema(request=s.TeamAccessInput(many=True), responses=s.WorkspaceAccessOutput(many=True),
                   operation_id="workspace_team_access_grant")
    def put(self, request, account_id, workspace_id):
        return self.grant(request)

    @extend_schema(request=s.TeamAccessInput(many=True), responses=s.WorkspaceAccessOutput(many=True),
                   operation_id="workspace_team_access_grant_post")
    def post(self, request, account_id, workspace_id):
        return self.grant(request)


class UserAccessDetailView(_AccessDetailView):
    principal_type = "user"


class BotAccessDetailView(_AccessDetailView):
    principal_type = "service_account"


class TeamAccessDetailView(_AccessDetailView):
    principal_type = "team"

