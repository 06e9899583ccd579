"""Seed the tier catalog: Free, Starter, Growth, Enterprise. Values are data from here on (admin)."""

from django.db import migrations

TIERS = [
    {
        "slug": "free", "name": "Free", "position": 0, "purchasable": False, "price_per_seat_cents": 0,
        "max_members": 3, "max_workspaces": 1, "roles": "none", "run_retention_days": 7,
        "audit_trail": False, "audit_retention_days": 0,
        "rate_limit_api_per_minute": 250, "rate_limit_logs_events_per_minute": 500,
        "features": ["Flows, deployments, work pools and agents", "Community support"],
    },
    {
        "slug": "starter", "name": "Starter", "position": 1, "purchasable": True, "price_per_seat_cents": 2000,
        "max_members": 10, "max_workspaces": 3, "roles": "system", "run_retention_days": 14,
        "audit_trail": False, "audit_retention_days": 0,
        "rate_limit_api_per_minute": 500, "rate_limit_logs_events_per_minute": 1600,
        "features": ["Built-in workspace roles", "Teams and service accounts", "Email support"],
    },
    {
        "slug": "growth", "name": "Growth", "position": 2, "purchasable": True, "price_per_seat_cents": 5000,
        "max_members": 50, "max_workspaces": 10, "roles": "system", "run_retention_days": 30,
        "audit_trail": False, "audit_retention_days": 0,
        "rate_limit_api_per_minute": 2000, "rate_limit_logs_events_per_minute": 10000,
        "features": ["Built-in workspace roles", "Teams and service accounts", "Priority email support"],
    },
    {
        "slug": "enterprise", "name": "Enterprise", "position": 3, "purchasable": False, "price_per_seat_cents": 0,
        "max_members": None, "max_workspaces": None, "roles": "custom", "run_retention_days": 365,
        "audit_trail": True, "audit_retention_days": 365,
        "rate_limit_api_per_minute": 10000, "rate_limit_logs_events_per_minute": 50000,
        "features": ["Custom workspace roles", "Audit trail", "Limits set by agreement"],
    },
]


def seed(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    for tier in TIERS:
        values = dict(tier)
        Plan.objects.update_or_create(slug=values.pop("slug"), defaults=values)


def unseed(apps, schema_editor):
    apps.get_model("billing", "Plan").objects.filter(slug__in=[t["slug"] for t in TIERS]).delete()


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
