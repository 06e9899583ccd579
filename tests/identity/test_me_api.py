import pytest

from apps.identity.services import api_key_create, api_key_revoke
from tests.factories.organizations import OrganizationFactory
from tests.factories.workspaces import WorkspaceFactory

pytestmark = pytest.mark.django_db


def test_me_workspaces_lists_exactly_the_callers_workspaces(authed_client, workspace):
    WorkspaceFactory(organization=OrganizationFactory())  # another tenant's
    response = authed_client.get("/api/me/workspaces")
    assert response.status_code == 200
    assert response.json() == [
        {
            "account_id": str(workspace.organization_id),
            "account_name": workspace.organization.name,
            "account_handle": workspace.organization.handle,
            "workspace_id": str(workspace.pk),
            "workspace_name": workspace.name,
            "workspace_description": "",
            "workspace_handle": workspace.handle,
        }
    ]


def test_me_identifies_the_user(authed_client, user):
    body = authed_client.get("/api/me/").json()
    assert body["id"] == str(user.pk) and body["email"] == user.email and body["actor_type"] == "user"


@pytest.mark.parametrize("header", [None, "Bearer nope", "Bearer pnu_" + "x" * 36, "Basic abc", "Bearer a b"])
def test_missing_or_bad_credentials_get_401(api_client, header):
    if header:
        api_client.credentials(HTTP_AUTHORIZATION=header)
    response = api_client.get("/api/me/workspaces")
    assert response.status_code == 401
    assert "detail" in response.json()


def test_revoked_key_gets_401_on_the_next_request(api_client, user):
    key, secret = api_key_create(owner=user, name="k", expires_at=None)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api_client.get("/api/me/").status_code == 200
    api_key_revoke(key=key)
    assert api_client.get("/api/me/").status_code == 401
