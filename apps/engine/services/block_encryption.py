"""Encryption at rest of block documents' secret fields: Fernet tokens under a MultiFernet built from
settings.PRAETOR_BLOCK_ENCRYPTION_KEYS (first key encrypts, every key decrypts), so keys rotate."""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from apps.engine.models.blocks import BlockDocument


def _derived_key() -> bytes:
    """The embedded default: a key derived from SECRET_KEY, never stored anywhere."""
    digest = hashlib.sha256(b"praetor.engine.blocks:" + settings.SECRET_KEY.encode()).digest()
    return base64.urlsafe_b64encode(digest)


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key) for key in keys] if keys else [Fernet(_derived_key())])
    except ValueError as exc:
        raise ImproperlyConfigured(f"PRAETOR_BLOCK_ENCRYPTION_KEYS holds an invalid Fernet key: {exc}") from exc


def current_fernet() -> MultiFernet:
    return _fernet(tuple(settings.PRAETOR_BLOCK_ENCRYPTION_KEYS))


def encrypt_secrets(secrets: list) -> str:
    return current_fernet().encrypt(json.dumps(secrets).encode()).decode()


def decrypt_secrets(token: str) -> list:
    try:
        return json.loads(current_fernet().decrypt(token.encode()))
    except InvalidToken:
        raise ImproperlyConfigured(
            "A block document's secrets cannot be decrypted with PRAETOR_BLOCK_ENCRYPTION_KEYS: "
            "a key that encrypted them was removed before rotation finished."
        ) from None


def block_secrets_rotate(*, batch_size: int = 500) -> int:
    """Re-encrypt every document's secrets under the first key (MultiFernet.rotate), in batches, so
    older keys can then be removed. Safe to run repeatedly or concurrently (rows locked). Returns the
    number of documents rewritten."""
    from django.db import transaction

    fernet = current_fernet()
    rewritten = 0
    last_pk = None
    while True:
        with transaction.atomic():
            rows = BlockDocument.all_workspaces.exclude(encrypted_secrets="").order_by("pk")
            if last_pk is not None:
                rows = rows.filter(pk__gt=last_pk)
            batch = list(rows.select_for_update().only("pk", "encrypted_secrets")[:batch_size])
            if not batch:
                return rewritten
            for document in batch:
                document.encrypted_secrets = fernet.rotate(document.encrypted_secrets.encode()).decode()
            BlockDocument.all_workspaces.bulk_update(batch, ["encrypted_secrets"])
            rewritten += len(batch)
            last_pk = batch[-1].pk
