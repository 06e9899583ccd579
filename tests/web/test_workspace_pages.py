"""Organization and workspace pages: membership required, another tenant's pages are 404."""

import pytest

from apps.workspaces.models import Workspace
from tests.factories.identity import UserFactory
from tests.factories.organizations import OrganizationFactory, membership
from tests.factories.workspaces import WorkspaceFactory

pytestmark = pytest.mark.django_db


def test_workspace_page_shows_the_workspace_and_how_to_connect(client, user, workspace):
    client.force_login(user)
    response = client.get(f"/{workspace.organization.handle}/{workspace.handle}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f"<h1>{workspace.name} " in html
    assert "prefect config set PREFECT_CLOUD_API_URL=http://testserver/api" in html
    slug = f"{workspace.organization.handle}/{workspace.handle}"
    assert f"prefect cloud login --key YOUR_API_KEY --workspace {slug}" in html
    assert 'href="/settings/api-keys/"' in html


@pytest.mark.parametrize("path", ["/{org}/", "/{org}/{ws}/", "/{org}/-/workspaces/new"])
def test_pages_of_another_organization_are_not_found(client, workspace, path):
    outsider = UserFactory()
    membership(OrganizationFactory(), outsider, "owner")
    client.force_login(outsider)
    url = path.format(org=workspace.organization.handle, ws=workspace.handle)
    assert client.get(url).status_code == 404


@pytest.mark.parametrize("path", ["/{org}/", "/{org}/{ws}/"])
def test_pages_need_sign_in(client, workspace, path):
    url = path.format(org=workspace.organization.handle, ws=workspace.handle)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}"


def test_unknown_organization_and_workspace_are_not_found(client, user, workspace):
    client.force_login(user)
    assert client.get("/no-such-org/").status_code == 404
    assert client.get(f"/{workspace.organization.handle}/no-such-ws/").status_code == 404


def test_workspace_handle_is_resolved_inside_the_urls_organization(client, user, workspace):
    # Same handle in another organization: the URL's organization decides which one is shown.
    other = WorkspaceFactory(handle=workspace.handle, name="Elsewhere")
    client.force_login(user)
    html = client.get(f"/{workspace.organization.handle}/{workspace.handle}/").content.decode()
    assert workspace.name in html and other.name not in html
    assert client.get(f"/{other.organization.handle}/{other.handle}/").status_code == 404


@pytest.mark.parametrize(("role", "status"), [("owner", 302), ("admin", 302), ("member", 403)])
def test_only_owners_and_admins_create_workspaces(client, organization, role, status):
    person = UserFactory()
    membership(organization, person, role)
    client.force_login(person)
    response = client.post(f"/{organization.handle}/-/workspaces/new", {"name": "Staging", "handle": "staging"})
    assert response.status_code == status
    created = Workspace.objects.for_organization(organization).filter(handle="staging").exists()
    assert created is (status == 302)
    if status == 302:
        assert response["Location"] == f"/{organization.handle}/staging/"


def test_member_sees_no_new_workspace_button(client, organization):
    person = UserFactory()
    membership(organization, person, "member")
    client.force_login(person)
    html = client.get(f"/{organization.handle}/").content.decode()
    assert "New workspace" not in html
    assert "Ask an Owner or Admin" in html


def test_duplicate_workspace_handle_is_a_field_error(client, user, workspace):
    client.force_login(user)
    org = workspace.organization
    response = client.post(f"/{org.handle}/-/workspaces/new", {"name": "Again", "handle": workspace.handle})
    assert response.status_code == 400
    assert 'id="id_handle_errors"' in response.content.decode()
    assert Workspace.objects.for_organization(org).count() == 1
