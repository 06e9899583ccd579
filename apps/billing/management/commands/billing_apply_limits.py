"""Operator command: recompute which workspaces and members are read-only (over their tier's limits), for
every organization or the named ones. Idempotent; run once after upgrading to the release that added the
flags (organizations already over their limits then), and whenever in doubt.

    manage.py billing_apply_limits            # every organization
    manage.py billing_apply_limits acme beta  # these handles
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from apps.billing.services import organization_limits_apply
from apps.organizations.models import Organization


class Command(BaseCommand):
    help = "Make what is over each organization's tier limits read-only, and the rest writable (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("handles", nargs="*", help="Organization handles (default: every organization).")

    def handle(self, *args, handles, **options):
        organizations = Organization.objects.order_by("handle")
        if handles:
            organizations = organizations.filter(handle__in=handles)
            missing = sorted(set(handles) - set(organizations.values_list("handle", flat=True)))
            if missing:
                raise CommandError(f"No organization with the handle(s): {', '.join(missing)}.")
        changed = 0
        for organization in organizations.iterator():
            # One short transaction per organization (the service locks that organization's row only).
            result = organization_limits_apply(organization=organization)
            if result.changed:
                changed += 1
                self.stdout.write(f"{organization.handle}: {len(result.read_only_workspace_ids)} read-only "
                                  f"workspace(s), {len(result.read_only_membership_ids)} read-only member(s)")
        self.stdout.write(f"Applied the limits of {organizations.count()} organization(s); {changed} changed.")
