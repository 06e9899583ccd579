"""The Members page (role changes, removal, leaving; inviting with the link shown once, revoking) and the
invitee's pages (the link's page for anonymous, wrong and right users; answering from the home page)."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from apps.organizations import services
from apps.organizations.models import Invitation, Membership, Tier
from tests.factories.identity import UserFactory
from tests.factories.organizations import OrganizationFactory, new_member

pytestmark = pytest.mark.django_db


@pytest.fixture
def org():
    return OrganizationFactory(name="Acme", handle="acme", tier=Tier.GROWTH)


@pytest.fixture
def owner(org):
    return new_member(org, "owner@example.com", "owner")


@pytest.fixture
def admin(org):
    return new_member(org, "admin@example.com", "admin")


@pytest.fixture
def member(org):
    return new_member(org, "member@example.com", "member")


def _mid(org, user):
    return Membership.objects.for_organization(org).get(user=user).pk


def _role(org, user):
    return Membership.objects.for_organization(org).get(user=user).role


def test_members_page_lists_members_and_admin_controls(client, org, owner, admin, member):
    client.force_login(admin)
    html = client.get("/acme/-/members/").content.decode()
    for email in ("owner@example.com", "admin@example.com", "member@example.com"):
        assert email in html
    assert 'aria-label="Change role of member@example.com"' in html
    assert 'aria-label="Remove member@example.com from Acme"' in html
    assert '<label for="id_email">Email address' in html
    # Admins cannot hand out Owner: the choice is not offered.
    assert '<option value="owner"' not in html.split('id="role-')[1].split("</select>")[0]


def test_members_page_for_a_member_has_no_admin_controls(client, org, owner, member):
    client.force_login(member)
    html = client.get("/acme/-/members/").content.decode()
    assert "owner@example.com" in html and "Change role" not in html and "Invite someone" not in html
    assert "Leave organization" in html
    assert client.post("/acme/-/members/", {"email": "x@example.com", "role": "member"}).status_code == 403
    response = client.post(f"/acme/-/members/{_mid(org, owner)}/role", {"role": "member"})
    assert response.status_code == 403
    assert _role(org, owner) == "owner"


def test_admin_changes_a_role_and_removes_a_member(client, org, owner, admin, member):
    client.force_login(admin)
    response = client.post(f"/acme/-/members/{_mid(org, member)}/role", {"role": "admin"}, follow=True)
    assert "member@example.com is now Admin." in response.content.decode()
    assert _role(org, member) == "admin"
    response = client.post(f"/acme/-/members/{_mid(org, member)}/remove", follow=True)
    assert "member@example.com was removed from Acme." in response.content.decode()
    assert not Membership.objects.for_organization(org).filter(user=member).exists()


def test_refusals_are_shown_and_change_nothing(client, org, owner, admin):
    client.force_login(admin)
    response = client.post(f"/acme/-/members/{_mid(org, owner)}/role", {"role": "member"}, follow=True)
    assert "Missing permission: organization:own." in response.content.decode()
    assert _role(org, owner) == "owner"
    client.force_login(owner)
    response = client.post(f"/acme/-/members/{_mid(org, owner)}/role", {"role": "admin"}, follow=True)
    assert "An organization must keep at least one Owner" in response.content.decode()
    response = client.post(f"/acme/-/members/{_mid(org, owner)}/remove", follow=True)
    assert "An organization must keep at least one Owner" in response.content.decode()
    assert _role(org, owner) == "owner"


def test_a_member_leaves(client, org, owner, member):
    client.force_login(member)
    response = client.post(f"/acme/-/members/{_mid(org, member)}/remove")
    assert response.status_code == 302 and response["Location"] == "/"
    assert not Membership.objects.for_organization(org).filter(user=member).exists()


def test_invite_shows_the_link_once_and_emails_it(client, org, admin, django_capture_on_commit_callbacks):
    client.force_login(admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/acme/-/members/", {"email": "New@Example.com", "role": "admin"})
    assert response.status_code == 200
    html = response.content.decode()
    link = re.search(r'id="invitation-link" class="mono" type="text" readonly value="([^"]+)"', html).group(1)
    assert "/invitations/" in link and link in mail.outbox[0].body
    assert "new@example.com is invited" in html
    invitation = Invitation.objects.for_organization(org).get()
    assert (invitation.email, invitation.role, invitation.status) == ("new@example.com", "admin", "pending")
    assert link not in client.get("/acme/-/members/").content.decode()


@pytest.mark.parametrize("data, message", [
    ({"email": "not-an-email", "role": "member"}, "Enter a valid email address."),
    ({"email": "member@example.com", "role": "member"}, "member@example.com is already a member"),
    ({"email": "x@example.com", "role": "owner"}, "Select a valid choice."),
])
def test_bad_invitations_are_refused_on_the_form(client, org, admin, member, data, message):
    client.force_login(admin)
    response = client.post("/acme/-/members/", data)
    assert response.status_code in (400, 409)
    assert message in response.content.decode()
    assert not Invitation.objects.for_organization(org).exists()


def test_revoke_an_invitation(client, org, admin):
    invitation, token = services.invitation_create(organization=org, email="x@example.com", actor=admin)
    client.force_login(admin)
    response = client.post(f"/acme/-/invitations/{invitation.pk}/revoke", follow=True)
    assert "The invitation to x@example.com is revoked" in response.content.decode()
    invitation.refresh_from_db()
    assert invitation.status == "revoked"
    assert "This invitation has been revoked." in client.get(f"/invitations/{token}").content.decode()


def test_member_pages_of_another_organization_are_404(client, org, admin, member):
    outsider = new_member(OrganizationFactory(), "outsider@example.com", "owner")
    client.force_login(outsider)
    for path in ("/acme/-/members/", "/acme/-/teams/", "/acme/-/service-accounts/"):
        assert client.get(path).status_code == 404
    assert client.post(f"/acme/-/members/{_mid(org, member)}/remove").status_code == 404
    assert Membership.objects.for_organization(org).filter(user=member).exists()
    # An admin of this organization naming another organization's membership: not found, nothing changes.
    client.force_login(admin)
    response = client.post(f"/acme/-/members/{_mid(outsider.memberships.get().organization, outsider)}/remove",
                           follow=True)
    assert "Membership not found." in response.content.decode()
    assert Membership.all_organizations.filter(user=outsider).exists()


# --- the invitee -------------------------------------------------------------------------------------------------


def test_invitation_link_page_for_anonymous_asks_to_sign_in(client, org, admin):
    _, token = services.invitation_create(organization=org, email="new@example.com", actor=admin)
    response = client.get(f"/invitations/{token}")
    assert response.status_code == 200
    html = response.content.decode()
    assert "admin@example.com invited" in html and "new@example.com" in html and "Acme" in html
    assert f'href="/accounts/login/?next=/invitations/{token}"' in html
    assert f'href="/accounts/signup/?next=/invitations/{token}"' in html
    assert client.post(f"/invitations/{token}", {"answer": "accept"}).status_code == 302  # to sign in


def test_invitation_link_for_someone_else_cannot_be_answered(client, org, admin):
    _, token = services.invitation_create(organization=org, email="new@example.com", actor=admin)
    intruder = UserFactory(email="intruder@example.com")
    client.force_login(intruder)
    html = client.get(f"/invitations/{token}").content.decode()
    assert "but this invitation was sent to new@example.com" in html and "Accept and join" not in html
    response = client.post(f"/invitations/{token}", {"answer": "accept"})
    assert response.status_code == 403
    assert not Membership.objects.for_organization(org).filter(user=intruder).exists()


def test_invitee_accepts_through_the_link(client, org, admin):
    _, token = services.invitation_create(organization=org, email="new@example.com", role="admin", actor=admin)
    newcomer = UserFactory(email="new@example.com")
    client.force_login(newcomer)
    assert "Accept and join Acme" in client.get(f"/invitations/{token}").content.decode()
    response = client.post(f"/invitations/{token}", {"answer": "accept"}, follow=True)
    assert response.redirect_chain[-1][0] == "/acme/"
    assert "Welcome to Acme: you joined as Admin." in response.content.decode()
    assert _role(org, newcomer) == "admin"
    assert "This invitation has already been accepted." in client.get(f"/invitations/{token}").content.decode()


def test_invitee_declines_and_unknown_or_expired_links(client, org, admin):
    invitation, token = services.invitation_create(organization=org, email="new@example.com", actor=admin)
    newcomer = UserFactory(email="new@example.com")
    client.force_login(newcomer)
    response = client.post(f"/invitations/{token}", {"answer": "decline"})
    assert response.status_code == 302
    invitation.refresh_from_db()
    assert invitation.status == "declined"
    assert client.get("/invitations/not-a-real-token").status_code == 404
    other, token2 = services.invitation_create(organization=org, email="late@example.com", actor=admin)
    Invitation.objects.for_organization(org).filter(pk=other.pk).update(expires_at=timezone.now() - timedelta(days=1))
    client.force_login(UserFactory(email="late@example.com"))
    assert "This invitation has expired" in client.get(f"/invitations/{token2}").content.decode()
    assert client.post(f"/invitations/{token2}", {"answer": "accept"}).status_code == 409


def test_a_new_user_with_an_invitation_sees_it_on_the_home_page_and_accepts(client, org, admin):
    invitation, _ = services.invitation_create(organization=org, email="new@example.com", actor=admin)
    newcomer = UserFactory(email="new@example.com")
    client.force_login(newcomer)
    response = client.get("/")
    assert response.status_code == 200  # not sent to onboarding: an invitation is waiting
    html = response.content.decode()
    assert "Invitations for you" in html and 'aria-label="Accept the invitation to Acme"' in html
    response = client.post(f"/invitations/{invitation.pk}/answer", {"answer": "accept"})
    assert response.status_code == 302 and response["Location"] == "/acme/"
    assert _role(org, newcomer) == "member"
    # Someone else's invitation id answers nothing.
    other, _ = services.invitation_create(organization=org, email="other@example.com", actor=admin)
    response = client.post(f"/invitations/{other.pk}/answer", {"answer": "accept"}, follow=True)
    assert "Invitation not found." in response.content.decode()
    other.refresh_from_db()
    assert other.status == "pending"
