"""An organization's Members page: who is in it and with which role; Owners and Admins change roles, remove
members, invite people by email (the link is shown once, on the answer to the POST) and revoke invitations.
Anyone may leave. The services decide (last Owner, only Owners make Owners, seat limit); their errors show here.
"""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache

from apps.core.errors import DomainError, LimitExceeded
from apps.organizations import selectors, services
from apps.organizations.models import Invitation, OrganizationRole
from apps.web.forms import ROLE_CHOICES, InvitationCreateForm, form_error_from
from apps.web.pages import MEMBER, OrganizationPageView

MANAGE = "organization:manage"
OWN = "organization:own"


def role_choices(access) -> list[tuple[str, str]]:
    """The roles this person may hand out: Owner only by Owners."""
    return [(key, label) for key, label in ROLE_CHOICES if key != OrganizationRole.OWNER or access.has(OWN)]


def _render(request, *, form=None, invitation=None, link=None, upgrade=None, status=200):
    organization, access = request.organization, request.access
    can_manage = access.has(MANAGE)
    if form is None and can_manage:
        form = InvitationCreateForm()
    if form is not None:
        form.fields["role"].choices = role_choices(access)
    invitations = []
    if can_manage:
        invitations = list(selectors.invitation_list(organization=organization,
                                                     statuses=[Invitation.Status.PENDING]))
    return render(request, "web/members/members.html", {
        "organization": organization,
        "members": selectors.membership_list(organization=organization),
        "invitations": invitations,
        "now": timezone.now(),
        "can_manage": can_manage,
        "role_choices": role_choices(access),
        "form": form,
        "invited": invitation,
        "link": link,
        "upgrade": upgrade,
    }, status=status)


@method_decorator(never_cache, name="dispatch")
class MembersView(OrganizationPageView):
    required_permissions = {"GET": MEMBER, "POST": MANAGE}

    def get(self, request, org):
        return _render(request)

    def post(self, request, org):
        """Invite someone. Rendered, not redirected: the link exists only in this answer (and the email)."""
        form = InvitationCreateForm(request.POST)
        form.fields["role"].choices = role_choices(request.access)
        if not form.is_valid():
            return _render(request, form=form, status=400)
        try:
            invitation, token = services.invitation_create(
                organization=request.organization, email=form.cleaned_data["email"], role=form.cleaned_data["role"],
                actor=request.user)
        except LimitExceeded as error:
            # Past the seat limit: the upgrade prompt (the limit, the tier that lifts it, a link for Owners).
            return _render(request, form=form, upgrade=error, status=error.status_code)
        except DomainError as error:
            form_error_from(form, error, fields={"email": "email", "role": "role", "already_member": "email",
                                                 "already_invited": "email"})
            return _render(request, form=form, status=error.status_code)
        return _render(request, invitation=invitation, link=services.invitation_link(token))


class MemberRoleView(OrganizationPageView):
    required_permissions = {"POST": MANAGE}

    def post(self, request, org, membership_id):
        try:
            membership = selectors.membership_get_by_id(organization=request.organization,
                                                        membership_id=membership_id)
            membership = services.membership_update_role(membership=membership, role=request.POST.get("role", ""),
                                                         actor=request.user)
        except DomainError as error:
            messages.error(request, error.detail)
            return redirect("web:members", org=org)
        messages.success(request, f"{membership.user.email} is now {membership.get_role_display()}.")
        return redirect("web:members", org=org)


class MemberRemoveView(OrganizationPageView):
    """Remove a member (Owners and Admins), or leave the organization oneself (anyone but the last Owner)."""

    required_permissions = {"POST": MEMBER}

    def post(self, request, org, membership_id):
        try:
            membership = selectors.membership_get_by_id(organization=request.organization,
                                                        membership_id=membership_id)
            services.membership_remove(membership=membership, actor=request.user)
        except DomainError as error:
            messages.error(request, error.detail)
            return redirect("web:members", org=org)
        if membership.user_id == request.user.pk:
            messages.success(request, f"You left {request.organization.name}.")
            return redirect("web:home")
        messages.success(request, f"{membership.user.email} was removed from {request.organization.name}.")
        return redirect("web:members", org=org)


class InvitationRevokeView(OrganizationPageView):
    required_permissions = {"POST": MANAGE}

    def post(self, request, org, invitation_id):
        try:
            invitation = selectors.invitation_get(organization=request.organization, invitation_id=invitation_id)
            services.invitation_revoke(invitation=invitation, actor=request.user)
        except DomainError as error:
            messages.error(request, error.detail)
            return redirect("web:members", org=org)
        messages.success(request, f"The invitation to {invitation.email} is revoked: its link no longer works.")
        return redirect("web:members", org=org)
