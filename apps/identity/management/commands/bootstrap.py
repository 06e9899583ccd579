"""Create (or find) a user, organization and workspace, and print a new pnu_ key on the last line."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.core.errors import DomainError
from apps.identity.services import api_key_create, user_get_or_create
from apps.organizations.models import Membership, Organization, OrganizationRole
from apps.organizations.services import organization_create
from apps.workspaces.models import Workspace
from apps.workspaces.services import workspace_create


class Command(BaseCommand):
    help = "Idempotently create a user, organization and workspace; print a new pnu_ API key last."

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument("--organization", required=True, help="organization handle")
        parser.add_argument("--workspace", required=True, help="workspace handle")
        parser.add_argument("--key-name", default="bootstrap")

    def handle(self, *args, email, password, organization, workspace, key_name, **options):
        try:
            with transaction.atomic():
                user, created = user_get_or_create(email=email, password=password)
                self._verify_email(user)
                org = Organization.objects.filter(handle=organization).first()
                if org is None:
                    org = organization_create(name=organization, handle=organization, owner=user)
                else:
                    membership = Membership.objects.for_organization(org).filter(user=user).first()
                    if membership is None:
                        raise CommandError(f"Organization {organization!r} exists and {email} is not a member.")
                    if membership.role not in (OrganizationRole.OWNER, OrganizationRole.ADMIN):
                        raise CommandError(f"{email} is not an owner or admin of {organization!r}.")
                ws = Workspace.objects.for_organization(org).filter(handle=workspace).first()
                if ws is None:
                    ws = workspace_create(organization=org, name=workspace, handle=workspace, actor=user)
                _, secret = api_key_create(owner=user, name=key_name, expires_at=None)
        except DomainError as exc:
            raise CommandError(exc.detail) from exc
        self.stderr.write(
            f"user {user.email} ({'created' if created else 'existing'}), "
            f"organization {org.handle} ({org.pk}), workspace {ws.handle} ({ws.pk})"
        )
        self.stdout.write(secret)

    @staticmethod
    def _verify_email(user) -> None:
        """Mark the address verified so the bootstrapped user can sign in to the browser too."""
        from allauth.account.models import EmailAddress

        EmailAddress.objects.update_or_create(
            user=user, email=user.email, defaults={"verified": True, "primary": True}
        )
