"""Operator command: put an organization on Enterprise (with per-organization limits), or end it.

    manage.py billing_enterprise acme --limit rate_limit_api_per_minute=30000 --limit max_members=500
    manage.py billing_enterprise acme --end
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from apps.billing import services
from apps.billing.selectors import organization_entitlements
from apps.core.errors import DomainError
from apps.organizations.models import Organization


def _parse_limit(raw: str) -> tuple[str, object]:
    name, sep, value = raw.partition("=")
    if not sep or not name:
        raise CommandError(f"--limit takes NAME=VALUE, not {raw!r}.")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


class Command(BaseCommand):
    help = "Put an organization on the Enterprise tier (set by an operator), or end it with --end."

    def add_arguments(self, parser):
        parser.add_argument("handle", help="The organization's handle.")
        parser.add_argument("--limit", action="append", default=[], metavar="NAME=VALUE",
                            help="Override one limit for this organization (repeatable); null = unlimited.")
        parser.add_argument("--end", action="store_true", help="End Enterprise: back to the Stripe tier or Free.")

    def handle(self, *args, handle: str, limit: list[str], end: bool, **options):
        organization = Organization.objects.filter(handle=handle).first()
        if organization is None:
            raise CommandError(f"No organization with the handle {handle!r}.")
        try:
            if end:
                services.enterprise_unset(organization=organization)
            else:
                services.enterprise_set(organization=organization, overrides=dict(map(_parse_limit, limit)))
        except DomainError as exc:
            raise CommandError(exc.detail) from exc
        entitlements = organization_entitlements(organization)
        self.stdout.write(f"{organization.handle}: {entitlements.tier_name} "
                          f"(members {entitlements.max_members}, workspaces {entitlements.max_workspaces}, "
                          f"api {entitlements.rate_limit_api_per_minute}/min, "
                          f"logs+events {entitlements.rate_limit_logs_events_per_minute}/min)")
