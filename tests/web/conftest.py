"""Fixtures shared by the web tests: a Growth organization with one workspace, and people given a role in it."""

from __future__ import annotations

import pytest

from apps.organizations.models import Tier
from tests.factories.access import grant
from tests.factories.identity import UserFactory
from tests.factories.organizations import OrganizationFactory, membership
from tests.factories.workspaces import WorkspaceFactory


@pytest.fixture
def org():
    return OrganizationFactory(tier=Tier.GROWTH)


@pytest.fixture
def ws(org):
    return WorkspaceFactory(organization=org)


@pytest.fixture
def person(org, ws):
    """`person(role)`: a new user, a member of `org` granted `role` in `ws`."""

    def make(role):
        user = UserFactory()
        membership(org, user, "member")
        grant(ws, user=user, role=role)
        return user

    return make
