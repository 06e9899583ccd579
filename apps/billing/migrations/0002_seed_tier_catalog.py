"""Seed the tier catalog: Free, Starter, Growth, Enterprise. Values are data from here on (admin)."""

from django.db import migrations

# The defaults live in apps/billing/catalog.py (also the selector's fallback if a row goes missing).
from apps.billing.catalog import DEFAULT_TIERS as TIERS  # noqa: E402


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
