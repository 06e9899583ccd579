import factory

from apps.organizations.models import Membership, Organization, ServiceAccount, Team
from tests.factories.base import TenantModelFactory
from tests.factories.identity import UserFactory


class OrganizationFactory(TenantModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Org {n}")
    handle = factory.Sequence(lambda n: f"org-{n}")


class TeamFactory(TenantModelFactory):
    class Meta:
        model = Team

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Team {n}")


class ServiceAccountFactory(TenantModelFactory):
    class Meta:
        model = ServiceAccount

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"bot-{n}")


def membership(organization, user, role: str = "member") -> Membership:
    return Membership.all_organizations.create(organization=organization, user=user, role=role)


def new_member(organization, email: str, role: str = "member"):
    """A new user with this email, made a member of the organization with this role."""
    user = UserFactory(email=email)
    membership(organization, user, role)
    return user
