import pytest

from apps.access.selectors import organization_access
from apps.organizations.roles import ACCOUNT_ROLES, account_role_for_id
from tests.factories.identity import UserFactory
from tests.factories.organizations import OrganizationFactory, membership

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("role", ACCOUNT_ROLES, ids=lambda r: r.name)
def test_account_role_permissions_match_organization_access(role):
    org = OrganizationFactory()
    user = UserFactory()
    membership(org, user, role.key)
    assert organization_access(user, org.pk).permissions == frozenset(role.permissions)


def test_account_role_ids_are_stable_and_distinct():
    assert [(str(r.id), r.name) for r in ACCOUNT_ROLES] == [
        ("6f1c3a7e-0b1d-4c39-9a51-000000000001", "Owner"),
        ("6f1c3a7e-0b1d-4c39-9a51-000000000002", "Admin"),
        ("6f1c3a7e-0b1d-4c39-9a51-000000000003", "Member"),
    ]
    assert account_role_for_id("not-a-uuid") is None
    assert account_role_for_id(ACCOUNT_ROLES[1].id).key == "admin"
