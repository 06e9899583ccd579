"""Invitations: an organization's admins invite, list and revoke (`/accounts/{a}/invitations/`); the invitee
lists and answers the invitations addressed to their email (`/me/invitations`)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from apps.core.api.inputs import any_of, body, page, valid
from apps.core.api.views import AUTHENTICATED, AccountAPIView, PraetorAPIView
from apps.organizations import selectors, services
from apps.organizations.api import serializers as s
from apps.organizations.models import OrganizationRole

MANAGE = "organization:manage"


class InvitationsView(AccountAPIView):
    required_permissions = {"GET": MANAGE, "POST": MANAGE}

    @extend_schema(responses=s.InvitationOutput(many=True), operation_id="invitations_list",
                   description="Newest first, every status (pending ones past their expiry show as expired).")
    def get(self, request, account_id):
        rows = page(selectors.invitation_list(organization=self.organization), request.query_params)
        return Response([s.invitation_row(i) for i in rows])

    @extend_schema(request=s.InvitationCreateInput, responses={201: s.InvitationOutput},
                   operation_id="invitations_create",
                   description="Emails the invitation link (also returned once, as `link`). A pending invitation "
                               "holds a seat: past the tier's member limit the answer is 402.")
    def post(self, request, account_id):
        data = valid(s.InvitationCreateInput, body(request))
        role = (s.role_key_from_id(data["account_role_id"]) if "account_role_id" in data
                else OrganizationRole.MEMBER)
        invitation, token = services.invitation_create(organization=self.organization, email=data["email"],
                                                       role=role, actor=request.user)
        return Response(s.invitation_row(invitation, link=services.invitation_link(token)),
                        status=status.HTTP_201_CREATED)


_STATUSES = {"pending", "accepted", "declined", "revoked"}


class InvitationsFilterView(AccountAPIView):
    required_permissions = {"POST": MANAGE}

    @extend_schema(request=s.InvitationFilterInput, responses=s.InvitationOutput(many=True),
                   operation_id="invitations_filter")
    def post(self, request, account_id):
        data = valid(s.InvitationFilterInput, body(request))
        filters = data.get("invitations")
        statuses = any_of(filters, "status")
        stored = None
        if statuses is not None:
            # "expired" is a pending invitation past its expiry: read pending rows, then compare computed values.
            stored = sorted({x for x in statuses if x in _STATUSES} | ({"pending"} if "expired" in statuses else set()))
        rows = selectors.invitation_list(organization=self.organization, statuses=stored)
        emails = any_of(filters, "email")
        if emails is not None:
            rows = rows.filter(email__in=[e.strip().lower() for e in emails])
        if statuses is not None:
            rows = [i for i in rows if s.invitation_status(i) in statuses]
        return Response([s.invitation_row(i) for i in page(rows, data)])


class InvitationDetailView(AccountAPIView):
    """GET one invitation; DELETE revokes it (the link stops working; the row stays, as `revoked`)."""

    required_permissions = {"GET": MANAGE, "DELETE": MANAGE}

    @extend_schema(responses=s.InvitationOutput, operation_id="invitations_read")
    def get(self, request, account_id, invitation_id):
        invitation = selectors.invitation_get(organization=self.organization, invitation_id=invitation_id)
        return Response(s.invitation_row(invitation))

    @extend_schema(responses={204: None}, operation_id="invitations_revoke")
    def delete(self, request, account_id, invitation_id):
        invitation = selectors.invitation_get(organization=self.organization, invitation_id=invitation_id)
        services.invitation_revoke(invitation=invitation, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MyInvitationsView(PraetorAPIView):
    """The caller's pending invitations (addressed to their email), in any organization."""

    required_permissions = {"GET": AUTHENTICATED}

    @extend_schema(responses=s.MyInvitationOutput(many=True), operation_id="me_invitations_list")
    def get(self, request):
        rows = page(selectors.invitation_list_for_user(user=request.user), request.query_params)
        return Response([s.my_invitation_row(i) for i in rows])


class MyInvitationAcceptView(PraetorAPIView):
    required_permissions = {"POST": AUTHENTICATED}

    @extend_schema(request=None, responses=s.MyInvitationOutput, operation_id="me_invitations_accept",
                   description="Join the organization with the invited role. 409 when the invitation was "
                               "already answered, revoked or has expired.")
    def post(self, request, invitation_id):
        services.invitation_accept(user=request.user, invitation_id=invitation_id)
        return Response(s.my_invitation_row(selectors.invitation_get_for_user(user=request.user,
                                                                              invitation_id=invitation_id)))


class MyInvitationDeclineView(PraetorAPIView):
    required_permissions = {"POST": AUTHENTICATED}

    @extend_schema(request=None, responses=s.MyInvitationOutput, operation_id="me_invitations_decline")
    def post(self, request, invitation_id):
        services.invitation_decline(user=request.user, invitation_id=invitation_id)
        return Response(s.my_invitation_row(selectors.invitation_get_for_user(user=request.user,
                                                                              invitation_id=invitation_id)))
