"""Workspaces through the Cloud-shaped API: create (handles validated and unique per account, the tier's
workspace limit → 402), list and filter what the caller can open, read, change and delete."""

import pytest
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.identity.services import api_key_create
from apps.organizations.models import Tier
from apps.workspaces.models import Workspace
from tests.factories.access import grant
from tests.factories.identity import UserFactory
from tests.factories.organizations import OrganizationFactory, membership
from tests.factories.workspaces import WorkspaceFactory

pytestmark = pytest.mark.django_db


def client_for(actor) -> APIClient:
    _, secret = api_key_create(owner=actor, name="t", expires_at=None)
    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return c


@pytest.fixture
def org():
    return OrganizationFactory(tier=Tier.ENTERPRISE)


@pytest.fixture
def admin(org):
    user = UserFactory()
    membership(org, user, "admin")
    return user


@pytest.fixture
def member(org):
    user = UserFactory()
    membership(org, user, "member")
    return user


def url(org, rest=""):
    return f"/api/accounts/{org.pk}/workspaces{rest}"


def test_workspace_create_has_clouds_shape_and_is_audited(org, admin):
    r = client_for(admin).post(url(org, "/"), {"name": "Production", "handle": "prod", "description": "Live"},
                               format="json")
    assert r.status_code == 201
    body = r.json()
    assert {k: body[k] for k in ("account_id", "name", "handle", "description", "default_workspace_role_id",
                                 "is_public")} == {"account_id": str(org.pk), "name": "Production", "handle": "prod",
                                                   "description": "Live", "default_workspace_role_id": None,
                                                   "is_public": False}
    ws = Workspace.objects.for_organization(org).get(pk=body["id"])
    assert ws.handle == "prod"
    assert AuditEvent.objects.filter(organization_id=org.pk, action="praetor.workspace.created").count() == 1


@pytest.mark.parametrize("payload", [
    {"name": "P", "handle": "Not Valid"},
    {"name": "P", "handle": "-edge"},
    {"name": "P", "handle": "x" * 65},
    {"name": "", "handle": "ok"},
    {"name": "P"},
    {"name": "P", "handle": "ok", "is_public": True},
])
def test_workspace_create_bad_input_is_422_and_creates_nothing(org, admin, payload):
    r = client_for(admin).post(url(org, "/"), payload, format="json")
    assert r.status_code == 422
    assert r.json()["exception_message"] == "Invalid request received."
    assert not Workspace.objects.for_organization(org).exists()


def test_workspace_handles_are_unique_per_account_only(org, admin):
    WorkspaceFactory(organization=org, handle="prod")
    other_org = OrganizationFactory()
    WorkspaceFactory(organization=other_org, handle="staging")
    c = client_for(admin)
    r = c.post(url(org, "/"), {"name": "P", "handle": "prod"}, format="json")
    assert r.status_code == 409 and r.json()["code"] == "handle_taken"
    assert c.post(url(org, "/"), {"name": "S", "handle": "staging"}, format="json").status_code == 201


def test_workspace_limit_is_402(admin, org):
    org.tier = Tier.FREE
    org.save()
    c = client_for(admin)
    made = 0
    while True:
        r = c.post(url(org, "/"), {"name": f"W{made}", "handle": f"w{made}"}, format="json")
        if r.status_code != 201:
            break
        made += 1
        assert made < 100
    assert r.status_code == 402 and r.json()["code"] == "max_workspaces_exceeded"
    assert Workspace.objects.for_organization(org).count() == made


def test_members_see_only_the_workspaces_they_can_open(org, admin, member):
    granted = WorkspaceFactory(organization=org, handle="granted")
    hidden = WorkspaceFactory(organization=org, handle="hidden")
    grant(granted, user=member)
    assert [w["handle"] for w in client_for(admin).get(url(org, "/")).json()] == ["granted", "hidden"]
    c = client_for(member)
    assert [w["handle"] for w in c.get(url(org, "/")).json()] == ["granted"]
    assert c.get(url(org, f"/{granted.pk}")).status_code == 200
    r = c.get(url(org, f"/{hidden.pk}"))
    assert r.status_code == 404 and r.json()["detail"] == "Workspace not found."
    r = c.post(url(org, "/filter"), {"workspaces": {"handle": {"any_": ["granted", "hidden"]}}}, format="json")
    assert [w["handle"] for w in r.json()] == ["granted"]


def test_workspace_update_and_delete(org, admin, member):
    ws = WorkspaceFactory(organization=org, handle="prod", name="Prod")
    grant(ws, user=member)
    r = client_for(member).patch(url(org, f"/{ws.pk}"), {"name": "Mine"}, format="json")
    assert r.status_code == 403 and r.json()["permission"] == "organization:manage"
    c = client_for(admin)
    r = c.patch(url(org, f"/{ws.pk}"), {"name": "Production", "handle": "production"}, format="json")
    assert r.status_code == 200 and (r.json()["name"], r.json()["handle"]) == ("Production", "production")
    WorkspaceFactory(organization=org, handle="taken")
    r = c.patch(url(org, f"/{ws.pk}"), {"handle": "taken"}, format="json")
    assert r.status_code == 409
    assert c.patch(url(org, f"/{ws.pk}"), {"handle": "Bad Handle"}, format="json").status_code == 422
    ws.refresh_from_db()
    assert ws.handle == "production"
    assert c.delete(url(org, f"/{ws.pk}")).status_code == 204
    assert not Workspace.objects.for_organization(org).filter(pk=ws.pk).exists()
    assert list(AuditEvent.objects.filter(organization_id=org.pk, action__startswith="praetor.workspace.")
                .order_by("seq").values_list("action", flat=True)) == ["praetor.workspace.updated",
                                                                       "praetor.workspace.deleted"]


def test_workspace_of_another_account_is_404(org, admin):
    foreign = WorkspaceFactory(organization=OrganizationFactory(), handle="theirs")
    c = client_for(admin)
    for method in ("get", "patch", "delete"):
        r = getattr(c, method)(url(org, f"/{foreign.pk}"), {"name": "x"}, format="json")
        assert r.status_code == 404 and r.json()["detail"] == "Workspace not found."
    foreign.refresh_from_db()
    assert foreign.handle == "theirs"
