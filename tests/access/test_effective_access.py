"""effective_access: direct grant + team grants + organization role, under the tier rules."""

import pytest

from apps.access import catalog
from apps.access.selectors import effective_access, workspace_reachable_q
from apps.organizations.models import Tier
from apps.workspaces.models import Workspace
from tests.factories.access import add_to_team, custom_role, grant
from tests.factories.identity import UserFactory
from tests.factories.organizations import OrganizationFactory, ServiceAccountFactory, TeamFactory, membership
from tests.factories.workspaces import WorkspaceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def growth_ws():
    org = OrganizationFactory(tier=Tier.GROWTH)
    return Workspace.all_organizations.select_related("organization").get(pk=WorkspaceFactory(organization=org).pk)


def _reload(ws):
    return Workspace.all_organizations.select_related("organization").get(pk=ws.pk)


@pytest.mark.parametrize("org_role", ["owner", "admin"])
def test_owner_and_admin_are_administrator_of_every_workspace(growth_ws, org_role):
    user = UserFactory()
    membership(growth_ws.organization, user, org_role)
    access = effective_access(user, growth_ws)
    assert access.is_member
    assert access.permissions == catalog.ADMINISTRATOR.permissions


def test_member_without_grant_has_no_access(growth_ws):
    user = UserFactory()
    membership(growth_ws.organization, user, "member")
    access = effective_access(user, growth_ws)
    assert not access.is_member
    assert access.permissions == frozenset()


def test_non_member_with_stale_grant_has_no_access(growth_ws):
    user = UserFactory()
    grant(growth_ws, user=user, role=catalog.ADMINISTRATOR)
    assert not effective_access(user, growth_ws).is_member


def test_direct_grant_gives_role_permissions(growth_ws):
    user = UserFactory()
    membership(growth_ws.organization, user, "member")
    grant(growth_ws, user=user, role=catalog.READ_ONLY_COLLABORATOR)
    access = effective_access(user, growth_ws)
    assert access.permissions == catalog.READ_ONLY_COLLABORATOR.permissions
    assert not access.has("blocks:read_secrets")
    assert not access.has("blocks:write")
    assert access.has("blocks:read")


def test_team_and_direct_grants_union(growth_ws):
    user = UserFactory()
    membership(growth_ws.organization, user, "member")
    team = TeamFactory(organization=growth_ws.organization)
    add_to_team(team, user)
    grant(growth_ws, team=team, role=catalog.READ_ONLY_COLLABORATOR)
    assert effective_access(user, growth_ws).permissions == catalog.READ_ONLY_COLLABORATOR.permissions
    grant(growth_ws, user=user, role=catalog.COLLABORATOR)
    access = effective_access(user, growth_ws)
    assert access.permissions == catalog.COLLABORATOR.permissions
    assert not access.has("workspace:manage_access")


def test_effective_access_is_one_query(growth_ws, django_assert_num_queries):
    user = UserFactory()
    membership(growth_ws.organization, user, "member")
    team = TeamFactory(organization=growth_ws.organization)
    add_to_team(team, user)
    grant(growth_ws, team=team, role=catalog.READ_ONLY_COLLABORATOR)
    grant(growth_ws, user=user, role=catalog.COLLABORATOR)
    effective_access(user, growth_ws)  # warms billing's cached entitlements
    with django_assert_num_queries(1):
        assert effective_access(user, growth_ws).permissions == catalog.COLLABORATOR.permissions


def test_service_account_uses_its_own_grants_in_one_query(growth_ws, django_assert_num_queries):
    bot = ServiceAccountFactory(organization=growth_ws.organization)
    assert not effective_access(bot, growth_ws).is_member
    grant(growth_ws, service_account=bot, role=catalog.COLLABORATOR)
    with django_assert_num_queries(1):
        access = effective_access(bot, growth_ws)
    assert access.permissions == catalog.COLLABORATOR.permissions


def test_service_account_of_another_organization_has_no_access(growth_ws):
    bot = ServiceAccountFactory(organization=OrganizationFactory(tier=Tier.GROWTH))
    assert not effective_access(bot, growth_ws).is_member


def test_admin_service_account_is_administrator(growth_ws):
    bot = ServiceAccountFactory(organization=growth_ws.organization, role="admin")
    assert effective_access(bot, growth_ws).permissions == catalog.ADMINISTRATOR.permissions


@pytest.mark.parametrize("tier", [Tier.FREE, Tier.STARTER])  # tiers whose billing plan has roles "none"
def test_roleless_tiers_make_every_member_administrator(tier):
    ws = _reload(WorkspaceFactory(organization=OrganizationFactory(tier=tier)))
    user = UserFactory()
    membership(ws.organization, user, "member")
    grant(ws, user=user, role=catalog.READ_ONLY_COLLABORATOR)  # kept from a higher tier, ignored here
    assert effective_access(user, ws).permissions == catalog.ADMINISTRATOR.permissions
    assert effective_access(UserFactory(), ws).is_member is False


def test_custom_role_on_enterprise_gives_its_permissions_plus_inherited():
    ws = _reload(WorkspaceFactory(organization=OrganizationFactory(tier=Tier.ENTERPRISE)))
    user = UserFactory()
    membership(ws.organization, user, "member")
    role = custom_role(ws.organization, permissions=["deployments:run"], inherited_role="read_only_collaborator")
    grant(ws, user=user, custom_role=role)
    assert effective_access(user, ws).permissions == catalog.READ_ONLY_COLLABORATOR.permissions | {"deployments:run"}


def test_custom_role_after_downgrade_to_growth_is_read_only():
    ws = _reload(WorkspaceFactory(organization=OrganizationFactory(tier=Tier.GROWTH)))
    user = UserFactory()
    membership(ws.organization, user, "member")
    role = custom_role(ws.organization, permissions=["deployments:run", "flows:read", "flows:write"])
    grant(ws, user=user, custom_role=role)
    assert effective_access(user, ws).permissions == frozenset({"flows:read"})


def test_removed_from_team_loses_access_at_once(growth_ws):
    from apps.organizations.models import TeamMembership

    user = UserFactory()
    membership(growth_ws.organization, user, "member")
    team = TeamFactory(organization=growth_ws.organization)
    add_to_team(team, user)
    grant(growth_ws, team=team, role=catalog.COLLABORATOR)
    assert effective_access(user, growth_ws).has("blocks:write")
    TeamMembership.objects.filter(team=team, user=user).delete()
    assert not effective_access(user, growth_ws).is_member


def test_reachable_workspaces_follow_grants_and_tier(growth_ws):
    org = growth_ws.organization
    other_ws = WorkspaceFactory(organization=org)
    free_ws = WorkspaceFactory(organization=OrganizationFactory(tier=Tier.FREE))
    user = UserFactory()
    membership(org, user, "member")
    membership(free_ws.organization, user, "member")
    team = TeamFactory(organization=org)
    add_to_team(team, user)
    grant(growth_ws, team=team, role=catalog.READ_ONLY_COLLABORATOR)
    WorkspaceFactory(organization=OrganizationFactory(tier=Tier.FREE))  # not a member: never listed
    reachable = set(Workspace.all_organizations.filter(workspace_reachable_q(actor=user))
                    .values_list("pk", flat=True))
    assert reachable == {growth_ws.pk, free_ws.pk}
    assert other_ws.pk not in reachable
