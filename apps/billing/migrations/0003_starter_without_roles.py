"""Starter exposes no workspace roles (every member with access is Administrator); Growth is the first
tier with the three system roles. Corrects the seeded Starter row unless an operator already changed it."""

from django.db import migrations


def forwards(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    Plan.objects.filter(slug="starter", roles="system").update(
        roles="none", features=["Teams and service accounts", "Email support"]
    )


def backwards(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    Plan.objects.filter(slug="starter", roles="none").update(
        roles="system", features=["Built-in workspace roles", "Teams and service accounts", "Email support"]
    )


class Migration(migrations.Migration):
    dependencies = [("billing", "0002_seed_tier_catalog")]

    operations = [migrations.RunPython(forwards, backwards)]
