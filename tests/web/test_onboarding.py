"""Onboarding: the first organization and workspace, created through the services in one transaction."""

import pytest

from apps.organizations.models import Membership, Organization
from apps.workspaces.models import Workspace
from tests.factories.organizations import OrganizationFactory
from tests.factories.workspaces import WorkspaceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


def test_onboarding_creates_organization_and_workspace_and_opens_it(signed_in, user):
    page = signed_in.get("/onboarding/")
    assert page.status_code == 200
    assert "Welcome to Praetor" in page.content.decode()

    response = signed_in.post("/onboarding/", {
        "organization_name": "Acme Corp", "organization_handle": "",
        "workspace_name": "Production", "workspace_handle": "prod",
    })
    assert response.status_code == 302
    assert response["Location"] == "/acme-corp/prod/"
    org = Organization.objects.get(handle="acme-corp")
    assert org.name == "Acme Corp"
    assert Membership.objects.for_organization(org).get().role == "owner"
    ws = Workspace.objects.for_organization(org).get()
    assert (ws.name, ws.handle) == ("Production", "prod")
    home = signed_in.get("/")
    assert home.status_code == 200
    assert 'href="/acme-corp/prod/"' in home.content.decode()


def test_taken_organization_handle_is_a_field_error_and_changes_nothing(signed_in):
    OrganizationFactory(handle="acme")
    response = signed_in.post("/onboarding/", {
        "organization_name": "Acme", "organization_handle": "acme",
        "workspace_name": "Production", "workspace_handle": "prod",
    })
    assert response.status_code == 400
    html = response.content.decode()
    assert "The handle &#x27;acme&#x27; is taken." in html
    assert 'id="id_organization_handle_errors"' in html
    assert Organization.objects.count() == 1


def test_invalid_workspace_handle_rolls_back_the_organization(signed_in):
    response = signed_in.post("/onboarding/", {
        "organization_name": "Acme", "organization_handle": "acme",
        "workspace_name": "Production", "workspace_handle": "-bad-",
    })
    assert response.status_code == 400
    assert 'id="id_workspace_handle_errors"' in response.content.decode()
    assert not Organization.objects.filter(handle="acme").exists()
    assert Workspace.all_organizations.count() == 0


@pytest.mark.parametrize("handle", ["accounts", "api", "admin", "onboarding", "settings", "static", "invitations"])
def test_handles_of_our_own_routes_are_reserved(signed_in, handle):
    response = signed_in.post("/onboarding/", {
        "organization_name": "Acme", "organization_handle": handle,
        "workspace_name": "Production", "workspace_handle": "prod",
    })
    assert response.status_code == 400
    assert "is reserved by Praetor" in response.content.decode()
    assert Organization.objects.count() == 0


def test_member_of_an_organization_is_not_sent_to_onboarding(signed_in, user, workspace):
    response = signed_in.get("/")
    assert response.status_code == 200
    assert workspace.name in response.content.decode()


def test_onboarding_needs_sign_in(client):
    response = client.post("/onboarding/", {"organization_name": "Acme", "workspace_name": "Production"})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/onboarding/"
    assert Organization.objects.count() == 0


def test_workspace_of_another_organization_is_not_listed(signed_in, workspace):
    other = WorkspaceFactory(name="Their secret workspace")
    html = signed_in.get("/").content.decode()
    assert other.name not in html
