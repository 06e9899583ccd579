"""Each security-relevant action leaves exactly the audit event it should, with actor, target and origin."""

import pytest
from allauth.account.models import EmailAddress
from django.test import Client

from apps.audit.models import AuditEvent
from apps.audit.selectors import audit_chain_verify
from apps.billing.services import organization_tier_set
from apps.engine.services.blocks import workspace_seed_blocks
from apps.identity.services import api_key_create, api_key_revoke
from apps.organizations import services as org_services
from apps.organizations.models import Membership, Tier
from apps.workspaces.services import workspace_create, workspace_delete
from tests.factories.identity import UserFactory
from tests.factories.organizations import OrganizationFactory, membership

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery"


def actions(org) -> list[str]:
    return list(AuditEvent.objects.filter(organization_id=org.pk).order_by("seq").values_list("action", flat=True))


@pytest.fixture
def org():
    return OrganizationFactory(tier=Tier.ENTERPRISE)


@pytest.fixture
def owner(org):
    user = UserFactory()
    membership(org, user, "owner")
    return user


def _verified(user):
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def test_sign_in_failed_sign_in_and_sign_out(org, owner):
    _verified(owner)
    browser = Client(REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="Chromium/1")
    r = browser.post("/accounts/login/", {"login": owner.email, "password": "wrong"})
    assert r.status_code == 200
    r = browser.post("/accounts/login/", {"login": owner.email, "password": PASSWORD})
    assert r.status_code == 302
    browser.post("/accounts/logout/")
    events = list(AuditEvent.objects.filter(organization_id=org.pk).order_by("seq"))
    assert [e.action for e in events] == ["praetor.user.login_failed", "praetor.user.logged_in",
                                          "praetor.user.logged_out"]
    failed, signed_in, _ = events
    assert (failed.actor_type, failed.target_id, failed.target_label) == ("anonymous", str(owner.pk), owner.email)
    assert (signed_in.actor_type, signed_in.actor_id) == ("user", owner.pk)
    assert (signed_in.ip_address, signed_in.user_agent) == ("203.0.113.9", "Chromium/1")


def test_failed_sign_in_of_unknown_email_goes_to_the_organizationless_chain():
    Client().post("/accounts/login/", {"login": "nobody@example.com", "password": "x"})
    event = AuditEvent.objects.get(organization_id=None, action="praetor.user.login_failed")
    assert event.target_label == "nobody@example.com" and event.details == {"known_user": False}
    assert audit_chain_verify(organization_id=None).ok


def test_api_key_created_first_used_once_and_revoked(org, owner):
    key, secret = api_key_create(owner=owner, name="ci", expires_at=None)
    from rest_framework.test import APIClient

    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    for _ in range(3):
        assert c.get("/api/me/").status_code == 200
    api_key_revoke(key=key)
    api_key_revoke(key=key)  # no-op, not audited twice
    assert actions(org) == ["praetor.api_key.created", "praetor.api_key.first_used", "praetor.api_key.revoked"]
    assert AuditEvent.objects.filter(organization_id=org.pk, target_id=str(key.pk)).count() == 3


def test_invitations_memberships_teams_and_service_accounts(org, owner):
    invitation, token = org_services.invitation_create(organization=org, email="new@example.com", actor=owner)
    newcomer = UserFactory(email="new@example.com")
    org_services.invitation_accept(token=token, user=newcomer)
    team = org_services.team_create(organization=org, name="Data", actor=owner)
    org_services.team_add_member(team=team, user_id=newcomer.pk, actor=owner)
    org_services.team_set_members(team=team, user_ids=[], actor=owner)
    m = Membership.objects.for_organization(org).get(user=newcomer)
    org_services.membership_update_role(membership=m, role="admin", actor=owner)
    bot, key, _ = org_services.service_account_create(organization=org, name="deployer", actor=owner)
    org_services.service_account_delete(service_account=bot, actor=owner)
    org_services.team_delete(team=team, actor=owner)
    org_services.membership_remove(membership=m, actor=owner)
    assert actions(org) == [
        "praetor.invitation.created", "praetor.invitation.accepted", "praetor.membership.created",
        "praetor.team.created", "praetor.team_membership.created", "praetor.team_membership.deleted",
        "praetor.membership.updated", "praetor.service_account.created", "praetor.api_key.created",
        "praetor.service_account.deleted", "praetor.team.deleted", "praetor.membership.deleted",
    ]
    role_change = AuditEvent.objects.get(organization_id=org.pk, action="praetor.membership.updated")
    assert role_change.details == {"role": "admin", "previous_role": "member"}
    assert role_change.actor_id == owner.pk and role_change.target_id == str(newcomer.pk)
    assert audit_chain_verify(organization_id=org.pk).ok


def test_failed_action_records_nothing(org, owner):
    org_services.team_create(organization=org, name="Data", actor=owner)
    from apps.core.errors import Conflict

    with pytest.raises(Conflict):
        org_services.team_create(organization=org, name="data", actor=owner)
    assert actions(org) == ["praetor.team.created"]


def test_workspace_created_and_deleted_and_tier_changes(org, owner):
    ws = workspace_create(organization=org, name="Prod", handle="prod", actor=owner)
    workspace_delete(workspace=ws, actor=owner)
    organization_tier_set(organization=org, tier=Tier.GROWTH, actor=None, reason="stripe")
    organization_tier_set(organization=org, tier=Tier.GROWTH, actor=None)  # unchanged: nothing recorded
    assert actions(org) == ["praetor.workspace.created", "praetor.workspace.deleted",
                            "praetor.organization.tier_changed"]
    tier = AuditEvent.objects.get(organization_id=org.pk, action="praetor.organization.tier_changed")
    assert tier.details == {"tier": "growth", "previous_tier": "enterprise", "reason": "stripe"}
    assert AuditEvent.objects.get(organization_id=org.pk, action="praetor.workspace.deleted").workspace_id == ws.pk


def test_reading_secret_block_values_is_recorded_once_per_request(org, owner):
    from rest_framework.test import APIClient

    ws = workspace_create(organization=org, name="Prod", handle="prod", actor=owner)
    workspace_seed_blocks(workspace=ws)
    _, secret = api_key_create(owner=owner, name="t", expires_at=None)
    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    base = f"/api/accounts/{org.pk}/workspaces/{ws.pk}/"
    block_type = c.get(base + "block_types/slug/secret").json()
    schema = c.post(base + "block_schemas/filter", {"block_schemas": {"block_type_id": {"any_": [block_type["id"]]}}},
                    format="json").json()[0]
    doc = c.post(base + "block_documents/", {"name": "db", "data": {"value": "hunter2"},
                 "block_schema_id": schema["id"], "block_type_id": block_type["id"]}, format="json").json()
    c.get(base + f"block_documents/{doc['id']}")  # obscured: not a secret read
    assert c.get(base + f"block_documents/{doc['id']}?include_secrets=true").json()["data"] == {"value": "hunter2"}
    reads = list(AuditEvent.objects.filter(organization_id=org.pk, action="praetor.block_secret.read"))
    assert len(reads) == 1
    assert (reads[0].target_id, reads[0].target_label, reads[0].workspace_id) == (doc["id"], "db", ws.pk)
