"""Re-encrypt block documents' secrets under the first key of PRAETOR_BLOCK_ENCRYPTION_KEYS."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from apps.engine.services.block_encryption import block_secrets_rotate


class Command(BaseCommand):
    help = "Re-encrypt every block document's secrets with the first PRAETOR_BLOCK_ENCRYPTION_KEYS key."

    def handle(self, *args, **options):
        self.stdout.write(f"re-encrypted {block_secrets_rotate()} block documents")
