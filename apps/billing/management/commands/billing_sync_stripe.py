"""Create the catalog's products and monthly per-seat plans in the configured Stripe account, and
record their ids on the tier rows. Idempotent: existing objects are kept, ids are deterministic.

    manage.py billing_sync_stripe [--prefix praetor]
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from apps.billing import stripe_gateway as gateway
from apps.billing.errors import PaymentProviderError
from apps.billing.models import Plan
from apps.billing.services import plan_changed


class Command(BaseCommand):
    help = "Create the purchasable tiers' Stripe products and plans (idempotent) and store their ids."

    def add_arguments(self, parser):
        parser.add_argument("--prefix", default="praetor", help="Prefix of the Stripe object ids (default praetor).")

    def handle(self, *args, prefix: str, **options):
        for plan in Plan.objects.filter(purchasable=True).order_by("position"):
            product_id = f"{prefix}_{plan.slug}"
            # A Stripe plan's amount is fixed: the id carries it, so a new price makes a new plan.
            plan_id = f"{prefix}_{plan.slug}_{plan.currency}_{plan.price_per_seat_cents}_monthly"
            try:
                made_product = gateway.product_ensure(product_id=product_id, name=f"Praetor {plan.name}")
                made_plan = gateway.plan_ensure(plan_id=plan_id, product_id=product_id,
                                                amount_cents=plan.price_per_seat_cents, currency=plan.currency)
            except PaymentProviderError as exc:
                raise CommandError(exc.detail) from exc
            if (plan.stripe_product_id, plan.stripe_price_id) != (product_id, plan_id):
                Plan.objects.filter(pk=plan.pk).update(stripe_product_id=product_id, stripe_price_id=plan_id)
                plan_changed(plan=plan)
            self.stdout.write(f"{plan.slug}: product {product_id} ({'created' if made_product else 'exists'}), "
                              f"plan {plan_id} ({'created' if made_plan else 'exists'})")
