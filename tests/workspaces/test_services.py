import pytest

from apps.core.errors import Conflict, Invalid, PermissionDenied
from apps.workspaces import services
from apps.workspaces.models import Workspace
from tests.factories.identity import UserFactory
from tests.factories.organizations import membership
from tests.factories.workspaces import WorkspaceFactory

pytestmark = pytest.mark.django_db


def test_workspace_update_and_delete(organization, user):
    ws = services.workspace_create(organization=organization, name="Prod", handle="prod", actor=user)
    services.workspace_update(workspace=ws, name="Production", handle="production", description="live", actor=user)
    ws.refresh_from_db()
    assert (ws.name, ws.handle, ws.description) == ("Production", "production", "live")
    services.workspace_delete(workspace=ws, actor=user)
    assert Workspace.objects.for_organization(organization).count() == 0


def test_workspace_handle_is_unique_per_organization(organization, user):
    organization.tier = "starter"  # Free allows one workspace (apps.billing)
    organization.save(update_fields=["tier"])
    services.workspace_create(organization=organization, name="Prod", handle="prod", actor=user)
    ws = services.workspace_create(organization=organization, name="Dev", handle="dev", actor=user)
    with pytest.raises(Conflict):
        services.workspace_create(organization=organization, name="Prod", handle="prod", actor=user)
    with pytest.raises(Conflict):
        services.workspace_update(workspace=ws, handle="prod", name="Renamed", actor=user)
    ws.refresh_from_db()
    assert (ws.handle, ws.name) == ("dev", "Dev")
    # Another organization may use the same handle.
    other = WorkspaceFactory(handle="prod")
    assert other.handle == "prod"


@pytest.mark.parametrize("kwargs", [{"handle": "Not A Slug"}, {"name": "x" * 101}, {"description": "x" * 1001},
                                    {"name": "   "}])
def test_invalid_workspace_update_changes_nothing(organization, user, kwargs):
    ws = services.workspace_create(organization=organization, name="Dev", handle="dev", actor=user)
    with pytest.raises(Invalid):
        services.workspace_update(workspace=ws, actor=user, **kwargs)
    ws.refresh_from_db()
    assert (ws.name, ws.handle, ws.description) == ("Dev", "dev", "")


def test_member_cannot_create_update_or_delete_workspaces(organization, user):
    ws = services.workspace_create(organization=organization, name="Dev", handle="dev", actor=user)
    reader = UserFactory()
    membership(organization, reader, "member")
    with pytest.raises(PermissionDenied):
        services.workspace_create(organization=organization, name="X", handle="x", actor=reader)
    with pytest.raises(PermissionDenied):
        services.workspace_update(workspace=ws, name="X", actor=reader)
    with pytest.raises(PermissionDenied):
        services.workspace_delete(workspace=ws, actor=reader)
    assert list(Workspace.objects.for_organization(organization).values_list("handle", "name")) == [("dev", "Dev")]
