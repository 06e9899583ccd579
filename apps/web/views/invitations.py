"""The invitee's side of an invitation: the emailed link's page (who invites you where, with which role;
accept or decline once signed in as the invited address), and answering from the home page by id."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render

from apps.core.errors import DomainError
from apps.identity.models import User
from apps.organizations import selectors, services
from apps.organizations.models import Invitation
from apps.web.pages import ANYONE, SIGNED_IN, PageView

ANSWERS = ("accept", "decline")


def _answer(request, *, answer: str, token: str | None = None, invitation_id=None):
    """Accept or decline; on success go where the user can use it, on refusal say why."""
    if answer not in ANSWERS:
        messages.error(request, "Choose to accept or decline the invitation.")
        return None
    if answer == "accept":
        membership = services.invitation_accept(user=request.user, token=token, invitation_id=invitation_id)
        organization = membership.organization
        messages.success(request, f"Welcome to {organization.name}: you joined as {membership.get_role_display()}.")
        return redirect("web:organization", org=organization.handle)
    invitation = services.invitation_decline(user=request.user, token=token, invitation_id=invitation_id)
    messages.success(request, f"You declined the invitation to {invitation.organization.name}.")
    return redirect("web:home")


class InvitationLinkView(PageView):
    """/invitations/{token}: anyone holding the link sees whom it invites; the invited person answers it."""

    required_permissions = {"GET": ANYONE, "POST": SIGNED_IN}

    def get(self, request, token):
        return self._render(request, token)

    def post(self, request, token):
        try:
            response = _answer(request, answer=request.POST.get("answer", ""), token=token)
        except DomainError as error:
            return self._render(request, token, error=error, status=error.status_code)
        return response or self._render(request, token, status=400)

    def _render(self, request, token, *, error=None, status=200):
        try:
            invitation = selectors.invitation_get_by_token(token=token)
        except DomainError as missing:
            return render(request, "web/invitations/invitation.html", {"error": missing}, status=404)
        user = request.user if isinstance(request.user, User) else None
        is_pending = invitation.status == Invitation.Status.PENDING and not invitation.is_expired
        return render(request, "web/invitations/invitation.html", {
            "invitation": invitation,
            "organization": invitation.organization,
            "is_pending": is_pending,
            "state": "expired" if invitation.status == Invitation.Status.PENDING and invitation.is_expired
            else invitation.status,
            "is_addressee": user is not None and user.email.lower() == invitation.email.lower(),
            "error": error,
            "next": request.get_full_path(),
        }, status=status)


class InvitationAnswerView(PageView):
    """Answer one of one's pending invitations from the home page (found by id among those sent to one's email)."""

    required_permissions = {"POST": SIGNED_IN}

    def post(self, request, invitation_id):
        try:
            response = _answer(request, answer=request.POST.get("answer", ""), invitation_id=invitation_id)
        except DomainError as error:
            messages.error(request, error.detail)
            return redirect("web:home")
        return response or redirect("web:home")
