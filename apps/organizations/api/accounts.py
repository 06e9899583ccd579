"""The account (organization) itself, its roles and its memberships: Prefect Cloud's `/accounts/{a}`,
`account_roles` and `account_memberships` paths and shapes."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from apps.billing.selectors import organization_entitlements
from apps.core.api.inputs import any_of, body, page, valid
from apps.core.api.views import AccountAPIView
from apps.core.errors import NotFound
from apps.organizations import selectors, services
from apps.organizations.api import serializers as s
from apps.organizations.roles import account_role_for_id

READ = "organization:read"
MANAGE = "organization:manage"
OWN = "organization:own"


class AccountView(AccountAPIView):
    """GET, PATCH (name, handle) and DELETE one organization."""

    required_permissions = {"GET": READ, "PATCH": MANAGE, "DELETE": OWN}

    def _render(self):
        return Response(s.account_row(self.organization, organization_entitlements(self.organization)))

    @extend_schema(responses=s.AccountOutput, operation_id="accounts_read")
    def get(self, request, account_id):
        return self._render()

    @extend_schema(request=s.AccountUpdateInput, responses=s.AccountOutput, operation_id="accounts_update")
    def patch(self, request, account_id):
        data = valid(s.AccountUpdateInput, body(request))
        self.organization = services.organization_update(organization=self.organization, actor=request.user,
                                                         name=data.get("name"), handle=data.get("handle"))
        return self._render()

    @extend_schema(responses={204: None}, operation_id="accounts_delete",
                   description="Deletes the organization with its workspaces, teams and service accounts. Owners only.")
    def delete(self, request, account_id):
        services.organization_delete(organization=self.organization, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AccountRolesView(AccountAPIView):
    required_permissions = {"GET": READ}
    pagination_class = None

    @extend_schema(responses=s.AccountRoleOutput(many=True), operation_id="account_roles_list")
    def get(self, request, account_id):
        return Response(page(s.account_role_rows(), request.query_params))


class AccountRolesFilterView(AccountAPIView):
    required_permissions = {"POST": READ}

    @extend_schema(request=s.PageInput, responses=s.AccountRoleOutput(many=True), operation_id="account_roles_filter")
    def post(self, request, account_id):
        return Response(page(s.account_role_rows(), valid(s.PageInput, body(request))))


class AccountRoleDetailView(AccountAPIView):
    required_permissions = {"GET": READ}

    @extend_schema(responses=s.AccountRoleOutput, operation_id="account_roles_read")
    def get(self, request, account_id, role_id):
        role = account_role_for_id(role_id)
        if role is None:
            raise NotFound("Account role not found.")
        return Response(s.account_role_row(role))


def _role_keys(ids: list | None) -> list[str] | None:
    if ids is None:
        return None
    roles = [account_role_for_id(value) for value in ids]
    return [role.key for role in roles if role is not None]


class MembershipsView(AccountAPIView):
    required_permissions = {"GET": READ}

    @extend_schema(responses=s.MembershipOutput(many=True), operation_id="account_memberships_list")
    def get(self, request, account_id):
        rows = page(selectors.membership_list(organization=self.organization), request.query_params)
        return Response([s.membership_row(m) for m in rows])


class MembershipsFilterView(AccountAPIView):
    required_permissions = {"POST": READ}

    @extend_schema(request=s.MembershipFilterInput, responses=s.MembershipOutput(many=True),
                   operation_id="account_memberships_filter")
    def post(self, request, account_id):
        data = valid(s.MembershipFilterInput, body(request))
        filters = data.get("account_memberships")
        rows = selectors.membership_list(organization=self.organization, emails=any_of(filters, "email"),
                                         roles=_role_keys(any_of(filters, "account_role_id")))
        return Response([s.membership_row(m) for m in page(rows, data)])


class MembershipDetailView(AccountAPIView):
    """GET a membership; PATCH its account role (Owner/Admin; Owner changes take an Owner; the organization
    always keeps an Owner); DELETE removes the member, or lets a member leave (declared as READ: leaving
    oneself needs no more, removing someone else is checked as organization:manage by the service)."""

    required_permissions = {"GET": READ, "PATCH": MANAGE, "DELETE": READ}

    def _membership(self, membership_id):
        return selectors.membership_get_by_id(organization=self.organization, membership_id=membership_id)

    @extend_schema(responses=s.MembershipOutput, operation_id="account_memberships_read")
    def get(self, request, account_id, membership_id):
        return Response(s.membership_row(self._membership(membership_id)))

    @extend_schema(request=s.MembershipUpdateInput, responses=s.MembershipOutput,
                   operation_id="account_memberships_update")
    def patch(self, request, account_id, membership_id):
        membership = self._membership(membership_id)
        data = valid(s.MembershipUpdateInput, body(request))
        role = s.role_key_from_id(data["account_role_id"])
        services.membership_update_role(membership=membership, role=role, actor=request.user)
        return Response(s.membership_row(self._membership(membership_id)))

    @extend_schema(responses={204: None}, operation_id="account_memberships_delete")
    def delete(self, request, account_id, membership_id):
        services.membership_remove(membership=self._membership(membership_id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
