import pytest
from django.core.management import call_command

from apps.core.models import UnscopedQueryError
from apps.identity.services import api_key_authenticate
from apps.organizations.models import Membership, Organization
from apps.workspaces.models import Workspace

pytestmark = pytest.mark.django_db


def test_unscoped_queries_of_tenant_data_raise(workspace):
    with pytest.raises(UnscopedQueryError):
        Workspace.objects.filter(handle=workspace.handle)
    assert list(Workspace.objects.for_organization(workspace.organization)) == [workspace]


def test_health_and_ready(client):
    assert client.get("/health").json() == {"status": "ok"}
    body = client.get("/ready").json()
    assert body["status"] == "ok"
    assert body["checks"] == {"database": "ok", "redis": "ok"}


def test_bootstrap_is_idempotent_and_prints_a_working_key(capsys):
    args = ["--email", "a@example.com", "--password", "pw-123456!", "--organization", "acme", "--workspace", "prod"]
    call_command("bootstrap", *args)
    first = capsys.readouterr().out.strip().splitlines()[-1]
    call_command("bootstrap", *args)
    second = capsys.readouterr().out.strip().splitlines()[-1]
    assert first != second and first.startswith("pnu_") and second.startswith("pnu_")
    assert api_key_authenticate(first).user.email == "a@example.com"
    org = Organization.objects.get(handle="acme")
    assert Workspace.objects.for_organization(org).count() == 1
    assert Membership.objects.for_organization(org).get().role == "owner"


@pytest.mark.parametrize("declared", [None, {}, {"GET": "flow:read"}, {"POST": "flow:write"},
                                      {"GET": "flow:read", "POST": None}, {"GET": None, "PATCH": "flow:write"}])
@pytest.mark.parametrize("method", ["GET", "POST", "PATCH", "DELETE"])
def test_the_required_permission_is_the_methods_else_the_reads(declared, method):
    """PraetorAPIView.required_permission: the method's declared permission (None when declared as None), else
    GET's: as `(declared or {}).get(method, (declared or {}).get("GET"))`."""
    from types import SimpleNamespace

    from apps.core.api.views import PraetorAPIView

    view = SimpleNamespace(required_permissions=declared)
    expected = (declared or {}).get(method, (declared or {}).get("GET"))
    assert PraetorAPIView.required_permission(view, SimpleNamespace(method=method)) == expected
