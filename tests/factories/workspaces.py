import factory

from apps.workspaces.models import Workspace
from tests.factories.base import TenantModelFactory

from .organizations import OrganizationFactory


class WorkspaceFactory(TenantModelFactory):
    class Meta:
        model = Workspace

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Workspace {n}")
    handle = factory.Sequence(lambda n: f"ws-{n}")
