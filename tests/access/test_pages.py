"""The Access and audit trail pages, through the Django test client (the browser test walks the main flow)."""

import pytest
from django.test import Client

from apps.access import catalog
from apps.access.models import WorkspaceGrant
from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.organizations.models import Tier
from tests.factories.access import custom_role, grant
from tests.factories.identity import UserFactory
from tests.factories.organizations import OrganizationFactory, TeamFactory, membership
from tests.factories.workspaces import WorkspaceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def org():
    return OrganizationFactory(tier=Tier.GROWTH, handle="acme")


@pytest.fixture
def ws(org):
    return WorkspaceFactory(organization=org, handle="prod", name="Production")


def browser_for(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def person(org, role="member"):
    u = UserFactory()
    membership(org, u, role)
    return u


URL = "/acme/prod/access/"


def test_admin_grants_changes_and_removes_a_team_role(org, ws):
    admin = person(org, "admin")
    team = TeamFactory(organization=org, name="Data")
    c = browser_for(admin)
    page = c.get(URL)
    assert page.status_code == 200
    assert b"Grant a role" in page.content and b"Data" in page.content
    r = c.post(URL, {"principal": f"team:{team.pk}", "role": str(catalog.READ_ONLY_COLLABORATOR.id)})
    assert r.status_code == 302
    g = WorkspaceGrant.all_workspaces.get()
    assert (g.team_id, g.role_key) == (team.pk, "read_only_collaborator")
    assert "Team Data now has the role Read-Only Collaborator." in c.get(URL).content.decode()
    r = c.post(f"{URL}{g.pk}/role", {"role": str(catalog.COLLABORATOR.id)})
    assert r.status_code == 302
    assert WorkspaceGrant.all_workspaces.get().role_key == "collaborator"
    assert c.post(f"{URL}{g.pk}/remove").status_code == 302
    assert not WorkspaceGrant.all_workspaces.exists()
    assert list(AuditEvent.objects.filter(organization_id=org.pk, action__startswith="praetor.workspace_access")
                .order_by("seq").values_list("action", flat=True)) == [
        "praetor.workspace_access.created", "praetor.workspace_access.updated", "praetor.workspace_access.deleted"]


def test_read_only_member_sees_roles_but_cannot_change_them(org, ws):
    member = person(org)
    grant(ws, user=member, role=catalog.READ_ONLY_COLLABORATOR)
    c = browser_for(member)
    page = c.get(URL)
    assert page.status_code == 200
    assert b"Grant a role" not in page.content and b"Read-Only Collaborator" in page.content
    r = c.post(URL, {"principal": f"user:{member.pk}", "role": str(catalog.ADMINISTRATOR.id)})
    assert r.status_code == 403
    assert WorkspaceGrant.all_workspaces.get().role_key == "read_only_collaborator"


def test_member_without_access_and_strangers_get_404(org, ws):
    assert browser_for(person(org)).get(URL).status_code == 404
    assert browser_for(UserFactory()).get(URL).status_code == 404


@pytest.mark.parametrize("case", ["foreign_team", "missing_role", "custom_role_growth", "no_principal"])
def test_bad_grants_from_the_page_change_nothing(org, ws, case):
    admin = person(org, "admin")
    principal, role, status = f"team:{TeamFactory(organization=org).pk}", str(catalog.COLLABORATOR.id), 404
    if case == "foreign_team":
        principal = f"team:{TeamFactory(organization=OrganizationFactory()).pk}"
    elif case == "missing_role":
        role = "0c2b1ed4-5c86-4f0e-9d7e-000000000000"
    elif case == "custom_role_growth":
        role, status = str(custom_role(org).pk), 402
    elif case == "no_principal":
        principal, status = "", 400
    r = browser_for(admin).post(URL, {"principal": principal, "role": role})
    assert r.status_code == status
    assert b'role="alert"' in r.content
    assert not WorkspaceGrant.all_workspaces.exists()
    assert not AuditEvent.objects.filter(action__startswith="praetor.workspace_access").exists()


def test_free_tier_explains_that_everyone_is_administrator(ws, org):
    org.tier = Tier.FREE
    org.save()
    page = browser_for(person(org, "owner")).get(URL).content.decode()
    assert "every member of the organization is\n  Administrator of every workspace" in page
    assert "Grant a role" not in page


def test_audit_trail_page_lists_filters_and_pages_for_enterprise(org):
    org.tier = Tier.ENTERPRISE
    org.save()
    admin = person(org, "admin")
    for i in range(55):
        audit_record(action="praetor.team.created", actor=admin, organization_id=org.pk, target_type="team",
                     target_id=str(i), target_label=f"team-{i}")
    audit_record(action="praetor.workspace.created", actor=admin, organization_id=org.pk, target_label="prod")
    c = browser_for(admin)
    page = c.get("/acme/-/audit/")
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count("<tr>") == 1 + 50 and "team-54" in html and "team-5<" not in html
    assert "Older events" in html
    older = c.get("/acme/-/audit/" + page.context["next_url"]).content.decode()
    # the 55 teams, the workspace and the admin's own sign-in (force_login) = 57 events: 50 + 7
    assert older.count("<tr>") == 1 + 7 and "team-0" in older and "praetor.user.logged_in" in older
    filtered = c.get("/acme/-/audit/?event=praetor.workspace.created").content.decode()
    assert filtered.count("<tr>") == 2 and "praetor.workspace.created" in filtered
    assert c.get("/acme/-/audit/?event=nonsense").status_code == 400


def test_audit_trail_page_prompts_upgrade_below_enterprise_and_is_for_admins_only(org):
    page = browser_for(person(org, "owner")).get("/acme/-/audit/")
    assert page.status_code == 200
    assert "The audit trail is not included in the Growth tier." in page.content.decode()
    assert browser_for(person(org)).get("/acme/-/audit/").status_code == 403
