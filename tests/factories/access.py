from apps.access import catalog
from apps.access.models import CustomRole, WorkspaceGrant
from apps.organizations.models import TeamMembership


def grant(workspace, *, role=catalog.COLLABORATOR, user=None, team=None, service_account=None,
          custom_role=None) -> WorkspaceGrant:
    return WorkspaceGrant.all_workspaces.create(
        workspace=workspace, user=user, team=team, service_account=service_account,
        role_key="" if custom_role else role.key, custom_role=custom_role,
    )


def custom_role(organization, *, name="Deployer", permissions=("flows:read",), inherited_role="") -> CustomRole:
    return CustomRole.all_organizations.create(organization=organization, name=name,
                                               permissions=sorted(permissions), inherited_role=inherited_role)


def add_to_team(team, user) -> TeamMembership:
    return TeamMembership.objects.create(team=team, user=user)
