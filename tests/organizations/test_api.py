"""The Cloud-shaped account API: the account, account roles, memberships (role changes, the last Owner,
removal) and invitations (create, list, filter, revoke; the invitee's accept and decline; expiry)."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.identity.services import api_key_create
from apps.organizations.models import Invitation, Membership, Organization, OrganizationRole, Tier
from apps.organizations.roles import ROLE_BY_KEY
from tests.factories.identity import UserFactory
from tests.factories.organizations import OrganizationFactory, ServiceAccountFactory, membership, new_member

pytestmark = pytest.mark.django_db

OWNER_ID = str(ROLE_BY_KEY[OrganizationRole.OWNER].id)
ADMIN_ID = str(ROLE_BY_KEY[OrganizationRole.ADMIN].id)
MEMBER_ID = str(ROLE_BY_KEY[OrganizationRole.MEMBER].id)


def client_for(actor) -> APIClient:
    _, secret = api_key_create(owner=actor, name="t", expires_at=None)
    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return c


@pytest.fixture
def org():
    return OrganizationFactory(name="Acme", handle="acme", tier=Tier.ENTERPRISE)


@pytest.fixture
def owner(org):
    return new_member(org, "owner@example.com", "owner")


@pytest.fixture
def admin(org):
    return new_member(org, "admin@example.com", "admin")


@pytest.fixture
def member(org):
    return new_member(org, "member@example.com", "member")


def url(org, rest=""):
    return f"/api/accounts/{org.pk}{rest}"


def actions(org) -> list[str]:
    """The organization's audit actions in order, without the test keys' own api_key events."""
    rows = AuditEvent.objects.filter(organization_id=org.pk).exclude(action__startswith="praetor.api_key.")
    return list(rows.order_by("seq").values_list("action", flat=True))


# --- the account ---------------------------------------------------------------------------------------------


def test_account_read_has_clouds_shape(org, member, settings):
    r = client_for(member).get(url(org))
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"id", "created", "updated", "name", "handle", "link", "settings", "domain_names",
                         "plan_type", "run_retention_days", "audit_log_retention_days", "features"}
    assert (body["id"], body["name"], body["handle"], body["plan_type"]) == (str(org.pk), "Acme", "acme", "enterprise")
    assert body["link"] == f"{settings.SITE_URL.rstrip('/')}/acme/"
    assert set(body["features"]) == {"workspace_roles", "custom_roles", "audit_trail"}
    assert body["domain_names"] == []


def test_account_update_by_admin_and_audited(org, admin):
    r = client_for(admin).patch(url(org), {"name": "Acme Inc", "handle": "acme-inc"}, format="json")
    assert r.status_code == 200 and (r.json()["name"], r.json()["handle"]) == ("Acme Inc", "acme-inc")
    org.refresh_from_db()
    assert (org.name, org.handle) == ("Acme Inc", "acme-inc")
    assert actions(org)[-1] == "praetor.organization.updated"


@pytest.mark.parametrize("payload, status, loc", [
    ({"handle": "Not A Slug"}, 422, ["body", "handle"]),
    ({"name": "x" * 101}, 422, ["body", "name"]),
    ({"name": "ok", "plan_type": "enterprise"}, 422, ["body", "plan_type"]),
])
def test_account_update_bad_input_changes_nothing(org, admin, payload, status, loc):
    r = client_for(admin).patch(url(org), payload, format="json")
    assert r.status_code == status
    assert r.json()["exception_message"] == "Invalid request received."
    assert [e["loc"] for e in r.json()["exception_detail"]] == [loc]
    org.refresh_from_db()
    assert (org.name, org.handle) == ("Acme", "acme")


def test_account_update_taken_handle_is_409(org, admin):
    OrganizationFactory(handle="taken")
    r = client_for(admin).patch(url(org), {"handle": "taken"}, format="json")
    assert r.status_code == 409 and r.json()["code"] == "handle_taken"
    org.refresh_from_db()
    assert org.handle == "acme"


def test_account_update_needs_manage(org, member):
    r = client_for(member).patch(url(org), {"name": "Mine"}, format="json")
    assert r.status_code == 403 and r.json()["detail"] == "Missing permission: organization:manage."
    org.refresh_from_db()
    assert org.name == "Acme"


def test_account_delete_takes_an_owner(org, owner, admin):
    r = client_for(admin).delete(url(org))
    assert r.status_code == 403 and r.json()["permission"] == "organization:own"
    assert Organization.objects.filter(pk=org.pk).exists()
    r = client_for(owner).delete(url(org))
    assert r.status_code == 204
    assert not Organization.objects.filter(pk=org.pk).exists()
    assert actions(org)[-1] == "praetor.organization.deleted"


def test_account_of_another_organization_is_404(org, owner):
    other = OrganizationFactory()
    r = client_for(owner).get(url(other))
    assert r.status_code == 404 and r.json()["detail"] == "Account not found."


def test_account_requires_a_key():
    r = APIClient().get(url(OrganizationFactory()))
    assert r.status_code == 401


def test_account_roles_have_stable_ids(org, member):
    c = client_for(member)
    r = c.get(url(org, "/account_roles/"))
    assert r.status_code == 200
    assert [(row["name"], row["id"]) for row in r.json()] == [("Owner", OWNER_ID), ("Admin", ADMIN_ID),
                                                              ("Member", MEMBER_ID)]
    assert c.post(url(org, "/account_roles/filter"), {"limit": 1}, format="json").json()[0]["name"] == "Owner"
    assert c.get(url(org, f"/account_roles/{ADMIN_ID}")).json()["permissions"] == ["organization:read",
                                                                                   "organization:manage"]
    assert c.get(url(org, "/account_roles/nope")).status_code == 404


# --- memberships ---------------------------------------------------------------------------------------------


def test_memberships_list_and_filter(org, owner, admin, member):
    c = client_for(member)
    r = c.get(url(org, "/account_memberships/"))
    assert r.status_code == 200
    rows = r.json()
    assert [row["email"] for row in rows] == ["admin@example.com", "member@example.com", "owner@example.com"]
    row = rows[1]
    assert set(row) == {"id", "actor_id", "user_id", "first_name", "last_name", "handle", "email",
                        "account_role_name", "account_role_id", "last_login", "created"}
    assert (row["user_id"], row["actor_id"], row["account_role_name"], row["account_role_id"]) == (
        str(member.pk), str(member.pk), "Member", MEMBER_ID)
    r = c.post(url(org, "/account_memberships/filter"),
               {"account_memberships": {"account_role_id": {"any_": [OWNER_ID, ADMIN_ID]}}}, format="json")
    assert [row["email"] for row in r.json()] == ["admin@example.com", "owner@example.com"]
    r = c.post(url(org, "/account_memberships/filter"),
               {"account_memberships": {"email": {"any_": ["OWNER@example.com"]}}, "limit": 5}, format="json")
    assert [row["email"] for row in r.json()] == ["owner@example.com"]
    assert c.get(url(org, "/account_memberships/?limit=1&offset=1")).json()[0]["email"] == "member@example.com"
    r = c.get(url(org, "/account_memberships/?limit=201"))
    assert r.status_code == 422


def test_memberships_list_counts_queries(org, owner, django_assert_num_queries):
    for n in range(5):
        new_member(org, f"m{n}@example.com", "member")
    c = client_for(owner)
    c.get(url(org, "/account_memberships/"))  # warm the entitlement cache and the key's first use
    # (key from the auth cache) membership check, organization, rate-limit tier read is cached, the list
    with django_assert_num_queries(3):
        r = c.get(url(org, "/account_memberships/"))
    assert len(r.json()) == 6


def _membership_id(org, user) -> str:
    return str(Membership.objects.for_organization(org).get(user=user).pk)


def test_admin_changes_a_members_role(org, owner, admin, member):
    r = client_for(admin).patch(url(org, f"/account_memberships/{_membership_id(org, member)}"),
                                {"account_role_id": ADMIN_ID}, format="json")
    assert r.status_code == 200 and r.json()["account_role_name"] == "Admin"
    assert Membership.objects.for_organization(org).get(user=member).role == "admin"
    assert actions(org)[-1] == "praetor.membership.updated"


def test_only_an_owner_grants_owner(org, owner, admin, member):
    mid = _membership_id(org, member)
    r = client_for(admin).patch(url(org, f"/account_memberships/{mid}"), {"account_role_id": OWNER_ID},
                                format="json")
    assert r.status_code == 403 and r.json()["permission"] == "organization:own"
    assert Membership.objects.for_organization(org).get(user=member).role == "member"
    r = client_for(owner).patch(url(org, f"/account_memberships/{mid}"), {"account_role_id": OWNER_ID},
                                format="json")
    assert r.status_code == 200 and r.json()["account_role_name"] == "Owner"


def test_the_last_owner_cannot_be_demoted_or_removed(org, owner):
    c = client_for(owner)
    mid = _membership_id(org, owner)
    r = c.patch(url(org, f"/account_memberships/{mid}"), {"account_role_id": MEMBER_ID}, format="json")
    assert r.status_code == 409 and r.json()["code"] == "last_owner"
    r = c.delete(url(org, f"/account_memberships/{mid}"))
    assert r.status_code == 409 and r.json()["code"] == "last_owner"
    assert Membership.objects.for_organization(org).get(user=owner).role == "owner"


def test_membership_update_bad_role_id_is_422(org, owner, member):
    mid = _membership_id(org, member)
    for payload in ({"account_role_id": "00000000-0000-0000-0000-000000000000"}, {"account_role_id": "x"}, {},
                    {"account_role_id": MEMBER_ID, "role": "owner"}):
        r = client_for(owner).patch(url(org, f"/account_memberships/{mid}"), payload, format="json")
        assert r.status_code == 422, payload
    assert Membership.objects.for_organization(org).get(user=member).role == "member"


def test_admin_removes_a_member_and_member_leaves(org, owner, admin, member):
    other = new_member(org, "other@example.com", "member")
    r = client_for(member).delete(url(org, f"/account_memberships/{_membership_id(org, other)}"))
    assert r.status_code == 403 and r.json()["permission"] == "organization:manage"
    r = client_for(admin).delete(url(org, f"/account_memberships/{_membership_id(org, other)}"))
    assert r.status_code == 204
    r = client_for(member).delete(url(org, f"/account_memberships/{_membership_id(org, member)}"))
    assert r.status_code == 204
    assert sorted(Membership.objects.for_organization(org).values_list("user__email", flat=True)) == [
        "admin@example.com", "owner@example.com"]
    assert actions(org)[-2:] == ["praetor.membership.deleted", "praetor.membership.deleted"]


def test_membership_of_another_organization_is_404(org, owner):
    other = OrganizationFactory()
    stranger = UserFactory()
    membership(other, stranger, "member")
    mid = _membership_id(other, stranger)
    for method in ("get", "patch", "delete"):
        r = getattr(client_for(owner), method)(url(org, f"/account_memberships/{mid}"),
                                               {"account_role_id": ADMIN_ID}, format="json")
        assert r.status_code == 404 and r.json()["detail"] == "Membership not found."
    assert Membership.objects.for_organization(other).get(user=stranger).role == "member"


# --- invitations ---------------------------------------------------------------------------------------------


def _invite(client, org, email, role_id=None):
    payload = {"email": email} | ({"account_role_id": role_id} if role_id else {})
    return client.post(url(org, "/invitations/"), payload, format="json")


def test_invitation_create_emails_the_link_and_shows_it_once(org, admin, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        r = _invite(client_for(admin), org, "New@Example.com", ADMIN_ID)
    assert r.status_code == 201
    body = r.json()
    assert (body["email"], body["account_role_name"], body["status"], body["inviter_email"]) == (
        "new@example.com", "Admin", "pending", "admin@example.com")
    assert body["link"] and "/invitations/" in body["link"]
    assert len(mail.outbox) == 1 and body["link"] in mail.outbox[0].body
    listed = client_for(admin).get(url(org, "/invitations/")).json()
    assert [(row["id"], row["link"]) for row in listed] == [(body["id"], None)]
    assert actions(org)[-1] == "praetor.invitation.created"


def test_invitation_bad_input_and_conflicts(org, admin, member):
    c = client_for(admin)
    assert _invite(c, org, "not-an-email").status_code == 422
    assert _invite(c, org, "a@example.com", "bogus").status_code == 422
    r = c.post(url(org, "/invitations/"), {"email": "a@example.com", "team": "x"}, format="json")
    assert r.status_code == 422 and r.json()["exception_detail"][0]["loc"] == ["body", "team"]
    r = _invite(c, org, "member@example.com")
    assert r.status_code == 409 and r.json()["code"] == "already_member"
    assert _invite(c, org, "a@example.com").status_code == 201
    r = _invite(c, org, "A@example.com")
    assert r.status_code == 409 and r.json()["code"] == "already_invited"
    assert Invitation.objects.for_organization(org).count() == 1


def test_invitation_needs_manage_and_owner_invites_take_an_owner(org, admin, member):
    r = _invite(client_for(member), org, "x@example.com")
    assert r.status_code == 403 and r.json()["permission"] == "organization:manage"
    r = _invite(client_for(admin), org, "x@example.com", OWNER_ID)
    assert r.status_code == 403 and r.json()["permission"] == "organization:own"
    assert not Invitation.objects.for_organization(org).exists()


def test_invitation_past_the_seat_limit_is_402(org, admin):
    org.tier = Tier.FREE
    org.save()
    c = client_for(admin)
    created = 0
    while True:
        r = _invite(c, org, f"seat{created}@example.com")
        if r.status_code != 201:
            break
        created += 1
        assert created < 100
    assert r.status_code == 402 and r.json()["code"] == "max_members_exceeded"
    assert "Upgrade to" in r.json()["detail"]
    assert Invitation.objects.for_organization(org).count() == created


def test_invitation_revoke(org, admin):
    c = client_for(admin)
    iid = _invite(c, org, "a@example.com").json()["id"]
    assert c.get(url(org, f"/invitations/{iid}")).json()["status"] == "pending"
    assert c.delete(url(org, f"/invitations/{iid}")).status_code == 204
    assert c.get(url(org, f"/invitations/{iid}")).json()["status"] == "revoked"
    r = c.delete(url(org, f"/invitations/{iid}"))
    assert r.status_code == 409 and r.json()["code"] == "invitation_not_pending"
    assert actions(org)[-1] == "praetor.invitation.revoked"


def test_invitation_filter_by_status_including_expired(org, admin):
    c = client_for(admin)
    old = _invite(c, org, "old@example.com").json()["id"]
    fresh = _invite(c, org, "fresh@example.com").json()["id"]
    Invitation.objects.for_organization(org).filter(pk=old).update(expires_at=timezone.now() - timedelta(minutes=1))
    r = c.post(url(org, "/invitations/filter"), {"invitations": {"status": {"any_": ["expired"]}}}, format="json")
    assert [row["id"] for row in r.json()] == [old]
    r = c.post(url(org, "/invitations/filter"), {"invitations": {"status": {"any_": ["pending"]}}}, format="json")
    assert [row["id"] for row in r.json()] == [fresh]
    r = c.post(url(org, "/invitations/filter"), {"invitations": {"email": {"any_": ["OLD@example.com"]}}},
               format="json")
    assert [row["id"] for row in r.json()] == [old]


def test_invitee_lists_accepts_and_joins(org, admin):
    iid = _invite(client_for(admin), org, "newcomer@example.com", ADMIN_ID).json()["id"]
    newcomer = UserFactory(email="newcomer@example.com")
    c = client_for(newcomer)
    mine = c.get("/api/me/invitations").json()
    assert [(row["id"], row["account_handle"], row["account_role_name"]) for row in mine] == [(iid, "acme", "Admin")]
    r = c.post(f"/api/me/invitations/{iid}/accept")
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    assert Membership.objects.for_organization(org).get(user=newcomer).role == "admin"
    assert c.get("/api/me/invitations").json() == []
    r = c.post(f"/api/me/invitations/{iid}/accept")
    assert r.status_code == 409 and r.json()["code"] == "invitation_not_pending"
    assert client_for(newcomer).get(url(org)).status_code == 200


def test_invitee_declines(org, admin):
    iid = _invite(client_for(admin), org, "newcomer@example.com").json()["id"]
    newcomer = UserFactory(email="newcomer@example.com")
    r = client_for(newcomer).post(f"/api/me/invitations/{iid}/decline")
    assert r.status_code == 200 and r.json()["status"] == "declined"
    assert not Membership.objects.for_organization(org).filter(user=newcomer).exists()
    assert actions(org)[-1] == "praetor.invitation.declined"


def test_someone_elses_invitation_is_404_and_changes_nothing(org, admin):
    iid = _invite(client_for(admin), org, "newcomer@example.com").json()["id"]
    intruder = UserFactory(email="intruder@example.com")
    for verb in ("accept", "decline"):
        r = client_for(intruder).post(f"/api/me/invitations/{iid}/{verb}")
        assert r.status_code == 404 and r.json()["detail"] == "Invitation not found."
    bot = ServiceAccountFactory(organization=org)
    assert client_for(bot).post(f"/api/me/invitations/{iid}/accept").status_code == 404
    assert client_for(bot).get("/api/me/invitations").json() == []
    assert Invitation.objects.for_organization(org).get(pk=iid).status == "pending"
    assert not Membership.objects.for_organization(org).filter(user=intruder).exists()


def test_expired_invitation_cannot_be_accepted(org, admin):
    iid = _invite(client_for(admin), org, "late@example.com").json()["id"]
    Invitation.objects.for_organization(org).filter(pk=iid).update(expires_at=timezone.now() - timedelta(seconds=1))
    late = UserFactory(email="late@example.com")
    c = client_for(late)
    assert c.get("/api/me/invitations").json() == []
    r = c.post(f"/api/me/invitations/{iid}/accept")
    assert r.status_code == 409 and r.json()["code"] == "invitation_expired"
    assert not Membership.objects.for_organization(org).filter(user=late).exists()
    assert client_for(admin).get(url(org, f"/invitations/{iid}")).json()["status"] == "expired"


def test_invitations_of_another_organization_are_404(org, admin):
    other = OrganizationFactory()
    other_admin = new_member(other, "oa@example.com", "admin")
    iid = _invite(client_for(other_admin), other, "x@example.com").json()["id"]
    c = client_for(admin)
    assert c.get(url(org, f"/invitations/{iid}")).status_code == 404
    assert c.delete(url(org, f"/invitations/{iid}")).status_code == 404
    assert Invitation.objects.for_organization(other).get(pk=iid).status == "pending"

