"""`manage.py verify_audit_trail [--organization ID]`: prove every audit chain unbroken (exit 1 if not)."""

from __future__ import annotations

import uuid

from django.core.management.base import BaseCommand, CommandError

from apps.audit.selectors import audit_chain_ids, audit_chain_verify


class Command(BaseCommand):
    help = "Recompute the audit trail's hash chains and report any edited, inserted or missing event."

    def add_arguments(self, parser):
        parser.add_argument("--organization", help="Verify only this organization's chain (its id).")

    def handle(self, *args, **options):
        if options["organization"]:
            try:
                chains = [uuid.UUID(options["organization"])]
            except ValueError:
                raise CommandError("--organization must be an organization id (UUID).") from None
        else:
            chains = audit_chain_ids()
        broken = 0
        total = 0
        for organization_id in chains:
            report = audit_chain_verify(organization_id=organization_id)
            total += report.events
            label = organization_id or "(no organization)"
            if report.ok:
                self.stdout.write(f"ok      {label}: {report.events} events")
            else:
                broken += 1
                for problem in report.problems:
                    self.stdout.write(f"BROKEN  {label}: {problem}")
        if broken:
            raise CommandError(f"{broken} of {len(chains)} audit chains are broken.")
        self.stdout.write(self.style.SUCCESS(f"All {len(chains)} audit chains verified ({total} events)."))
