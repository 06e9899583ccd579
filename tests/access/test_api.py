"""The Cloud-shaped access endpoints: workspace_scopes, workspace_roles, user/bot/team_access."""

import pytest
from rest_framework.test import APIClient

from apps.access import catalog
from apps.access.models import CustomRole, WorkspaceGrant
from apps.audit.models import AuditEvent
from apps.identity.services import api_key_create
from apps.organizations.models import Tier
from tests.factories.access import add_to_team, custom_role, grant
from tests.factories.identity import UserFactory
from tests.factories.organizations import OrganizationFactory, ServiceAccountFactory, TeamFactory, membership
from tests.factories.workspaces import WorkspaceFactory

pytestmark = pytest.mark.django_db


def client_for(actor) -> APIClient:
    _, secret = api_key_create(owner=actor, name="t", expires_at=None)
    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return c


@pytest.fixture
def org():
    return OrganizationFactory(tier=Tier.GROWTH)


@pytest.fixture
def admin(org):
    u = UserFactory()
    membership(org, u, "admin")
    return u


@pytest.fixture
def ws(org):
    return WorkspaceFactory(organization=org)


def base(ws) -> str:
    return f"/api/accounts/{ws.organization_id}/workspaces/{ws.pk}"


def test_workspace_scopes_lists_the_catalog(admin):
    r = client_for(admin).get("/api/workspace_scopes")
    assert r.status_code == 200
    assert len(r.json()) == len(catalog.WORKSPACE_PERMISSIONS)
    assert {"name": "see_flows", "permission": "flows:read", "description": "See flows."} in r.json()
    assert {row["name"] for row in r.json()} >= {"run_deployments", "manage_blocks", "see_block_secrets",
                                                 "manage_workspace_users", "run_work_queues"}


def test_workspace_roles_list_has_built_ins_with_stable_ids(admin, org):
    r = client_for(admin).get(f"/api/accounts/{org.pk}/workspace_roles/")
    assert r.status_code == 200
    rows = {row["name"]: row for row in r.json()}
    assert list(rows) == ["Administrator", "Collaborator", "Read-Only Collaborator", "Runner", "Worker"]
    ro = rows["Read-Only Collaborator"]
    assert ro["id"] == str(catalog.READ_ONLY_COLLABORATOR.id)
    assert ro["account_id"] is None
    assert "see_block_secrets" not in ro["scopes"] and "see_blocks" in ro["scopes"]
    assert rows["Runner"]["is_template"] is True


def test_custom_role_needs_enterprise(admin, org):
    r = client_for(admin).post(f"/api/accounts/{org.pk}/workspace_roles/",
                               {"name": "Deployer", "scopes": ["see_flows"]}, format="json")
    assert r.status_code == 402
    assert r.json()["code"] == "custom_roles_not_included"
    assert "Enterprise" in r.json()["detail"] and "Growth" in r.json()["detail"]
    assert not CustomRole.all_organizations.exists()
    assert not AuditEvent.objects.filter(action__startswith="praetor.workspace_role").exists()


def test_custom_role_crud_on_enterprise(admin, org):
    org.tier = Tier.ENTERPRISE
    org.save()
    c = client_for(admin)
    r = c.post(f"/api/accounts/{org.pk}/workspace_roles/",
               {"name": "Deployer", "scopes": ["see_flows", "deployments:run"],
                "inherited_role_id": str(catalog.READ_ONLY_COLLABORATOR.id)}, format="json")
    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["account_id"] == str(org.pk)
    assert body["inherited_role_id"] == str(catalog.READ_ONLY_COLLABORATOR.id)
    assert set(body["permissions"]) == catalog.READ_ONLY_COLLABORATOR.permissions | {"deployments:run"}
    role_id = body["id"]
    r = c.patch(f"/api/accounts/{org.pk}/workspace_roles/{role_id}", {"scopes": ["see_flows"]}, format="json")
    assert r.status_code == 204
    assert CustomRole.all_organizations.get(pk=role_id).permissions == ["flows:read"]
    r = c.post(f"/api/accounts/{org.pk}/workspace_roles/filter", {"workspace_roles": {"name": {"any_": ["Deployer"]}}},
               format="json")
    assert [row["id"] for row in r.json()] == [role_id]
    assert c.delete(f"/api/accounts/{org.pk}/workspace_roles/{role_id}").status_code == 204
    assert list(AuditEvent.objects.filter(organization_id=org.pk, action__startswith="praetor.workspace_role")
                .order_by("seq").values_list("action", flat=True)) == [
        "praetor.workspace_role.created", "praetor.workspace_role.updated", "praetor.workspace_role.deleted"]


def test_unknown_scope_is_422_and_nothing_created(admin, org):
    org.tier = Tier.ENTERPRISE
    org.save()
    r = client_for(admin).post(f"/api/accounts/{org.pk}/workspace_roles/",
                               {"name": "X", "scopes": ["see_flows", "fly_to_moon"]}, format="json")
    assert r.status_code == 422
    assert "fly_to_moon" in r.json()["exception_detail"][0]["msg"]
    assert not CustomRole.all_organizations.exists()


def test_built_in_role_cannot_be_edited(admin, org):
    r = client_for(admin).patch(f"/api/accounts/{org.pk}/workspace_roles/{catalog.ADMINISTRATOR.id}",
                                {"name": "Boss"}, format="json")
    assert r.status_code == 409


def test_member_cannot_create_roles(org):
    member = UserFactory()
    membership(org, member, "member")
    r = client_for(member).post(f"/api/accounts/{org.pk}/workspace_roles/", {"name": "X", "scopes": []}, format="json")
    assert r.status_code == 403
    assert r.json() == {"detail": "Missing permission: organization:manage.", "code": "missing_permission",
                        "permission": "organization:manage"}


def test_grant_team_role_and_switch_it(admin, org, ws):
    team = TeamFactory(organization=org)
    member = UserFactory()
    membership(org, member, "member")
    add_to_team(team, member)
    c, m = client_for(admin), client_for(member)
    assert m.get(f"{base(ws)}/team_access/").status_code == 404  # no access yet: the workspace is invisible
    r = c.put(f"{base(ws)}/team_access/", [{"team_id": str(team.pk),
                                            "workspace_role_id": str(catalog.READ_ONLY_COLLABORATOR.id)}],
              format="json")
    assert r.status_code == 200, r.json()
    row = r.json()[0]
    assert row["team_id"] == str(team.pk)
    assert row["workspace_role_name"] == "Read-Only Collaborator"
    assert m.get(f"{base(ws)}/team_access/").status_code == 200
    denied = m.put(f"{base(ws)}/team_access/", [{"team_id": str(team.pk),
                                                 "workspace_role_id": str(catalog.ADMINISTRATOR.id)}], format="json")
    assert denied.status_code == 403
    assert denied.json()["permission"] == "workspace:manage_access"
    r = c.put(f"{base(ws)}/team_access/", [{"team_id": str(team.pk),
                                            "workspace_role_id": str(catalog.COLLABORATOR.id)}], format="json")
    assert r.json()[0]["workspace_role_name"] == "Collaborator"
    assert WorkspaceGrant.all_workspaces.get().role_key == "collaborator"
    events = list(AuditEvent.objects.filter(organization_id=org.pk, action__startswith="praetor.workspace_access")
                  .order_by("seq"))
    assert [e.action for e in events] == ["praetor.workspace_access.created", "praetor.workspace_access.updated"]
    assert events[1].details["previous_role"] == "Read-Only Collaborator"
    assert events[1].target_id == str(team.pk) and events[1].workspace_id == ws.pk
    r = c.delete(f"{base(ws)}/team_access/{row['id']}")
    assert r.status_code == 204
    assert m.get(f"{base(ws)}/team_access/").status_code == 404


def test_user_and_bot_access(admin, org, ws):
    user = UserFactory()
    membership(org, user, "member")
    bot = ServiceAccountFactory(organization=org)
    c = client_for(admin)
    r = c.post(f"{base(ws)}/user_access/", [{"user_id": str(user.pk),
                                             "workspace_role_id": str(catalog.COLLABORATOR.id)}], format="json")
    assert r.status_code == 200
    assert r.json()[0]["user_id"] == str(user.pk) and r.json()[0]["actor_id"] == str(user.pk)
    ro = str(catalog.READ_ONLY_COLLABORATOR.id)
    r = c.post(f"{base(ws)}/bot_access/", [{"bot_id": str(bot.pk), "workspace_role_id": ro}], format="json")
    assert r.status_code == 200
    assert r.json()[0]["bot_id"] == str(bot.pk)
    assert [row["user_id"] for row in c.get(f"{base(ws)}/user_access/").json()] == [str(user.pk)]
    assert [row["bot_id"] for row in c.get(f"{base(ws)}/bot_access/").json()] == [str(bot.pk)]
    assert client_for(bot).get(f"{base(ws)}/bot_access/").status_code == 200


@pytest.mark.parametrize("case", ["foreign_team", "missing_role", "custom_role_growth", "template_growth",
                                  "foreign_custom_role", "bad_uuid"])
def test_bad_grants_change_nothing(admin, org, ws, case):
    team = TeamFactory(organization=org)
    role_id, team_id, expected = str(catalog.COLLABORATOR.id), str(team.pk), 404
    if case == "foreign_team":
        team_id = str(TeamFactory(organization=OrganizationFactory(tier=Tier.GROWTH)).pk)
    elif case == "missing_role":
        role_id = "7b1c7c4e-0000-4000-8000-000000000000"
    elif case == "custom_role_growth":
        role_id, expected = str(custom_role(org).pk), 402
    elif case == "template_growth":
        role_id, expected = str(catalog.RUNNER.id), 402
    elif case == "foreign_custom_role":
        other = OrganizationFactory(tier=Tier.ENTERPRISE)
        org.tier = Tier.ENTERPRISE
        org.save()
        role_id = str(custom_role(other).pk)
    elif case == "bad_uuid":
        role_id, expected = "not-a-uuid", 422
    # A valid entry first: the batch is all-or-nothing, so it must not be applied either.
    good = TeamFactory(organization=org)
    r = client_for(admin).put(
        f"{base(ws)}/team_access/",
        [{"team_id": str(good.pk), "workspace_role_id": str(catalog.COLLABORATOR.id)},
         {"team_id": team_id, "workspace_role_id": role_id}], format="json")
    assert r.status_code == expected, r.json()
    assert not WorkspaceGrant.all_workspaces.exists()
    assert not AuditEvent.objects.filter(action__startswith="praetor.workspace_access").exists()


def test_grants_on_free_tier_are_402(org, ws):
    org.tier = Tier.FREE
    org.save()
    owner = UserFactory()
    membership(org, owner, "owner")
    user = UserFactory()
    membership(org, user, "member")
    r = client_for(owner).post(f"{base(ws)}/user_access/", [{"user_id": str(user.pk),
                                                           "workspace_role_id": str(catalog.COLLABORATOR.id)}],
                               format="json")
    assert r.status_code == 402
    assert r.json()["code"] == "workspace_roles_not_included"
    assert not WorkspaceGrant.all_workspaces.exists()


def test_grant_list_query_count(admin, org, ws, django_assert_num_queries):
    for _ in range(5):
        grant(ws, team=TeamFactory(organization=org), role=catalog.COLLABORATOR)
    c = client_for(admin)
    c.get(f"{base(ws)}/team_access/")
    # key, workspace and effective access come from the auth cache the first request filled; the grants
    with django_assert_num_queries(1):
        r = c.get(f"{base(ws)}/team_access/")
    assert len(r.json()) == 5


def test_me_workspaces_lists_only_reachable_workspaces(org, ws, django_assert_num_queries):
    hidden = WorkspaceFactory(organization=org)
    member = UserFactory()
    membership(org, member, "member")
    team = TeamFactory(organization=org)
    add_to_team(team, member)
    grant(ws, team=team, role=catalog.READ_ONLY_COLLABORATOR)
    c = client_for(member)
    c.get("/api/me/workspaces")  # warms billing's cached entitlements
    # (key from the auth cache) memberships with tiers, workspaces (grants are a subquery)
    with django_assert_num_queries(2):
        r = c.get("/api/me/workspaces")
    assert [row["workspace_id"] for row in r.json()] == [str(ws.pk)]
    assert str(hidden.pk) not in {row["workspace_id"] for row in r.json()}
