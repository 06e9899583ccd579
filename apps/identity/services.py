"""Writes for users and API keys. Secrets are shown once and never stored."""

from __future__ import annotations

import hashlib
import secrets
import string
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_record, audit_record_for_user
from apps.core import authcache, clock
from apps.core.errors import Invalid, NotFound
from apps.core.validators import handle_from
from apps.identity.models import ApiKey, User

_ALPHABET = string.ascii_letters + string.digits
LOOKUP_LENGTH = 12
SECRET_LENGTH = 36  # characters after the prefix, as Prefect Cloud's keys
# Writing last_used_at on every request would put a write on the hot path; once a minute is enough.
LAST_USED_RESOLUTION_SECONDS = 60
_OWNER = object()  # sentinel: "the key's owner is the actor"
_SECRET_CHARACTERS = len(ApiKey.USER_PREFIX) + SECRET_LENGTH  # a presented secret's length (both prefixes: 4)
_LAST_USED_RESOLUTION = timedelta(seconds=LAST_USED_RESOLUTION_SECONDS)


_sha256 = hashlib.sha256
_PREFIXES = (ApiKey.USER_PREFIX, ApiKey.SERVICE_ACCOUNT_PREFIX)


def _digest(secret: str) -> str:
    return _sha256(secret.encode()).hexdigest()


def unique_user_handle(email: str) -> str:
    base = handle_from(email.split("@", 1)[0], fallback="user")[:56]
    handle = base
    while User.objects.filter(handle=handle).exists():
        handle = f"{base}-{secrets.token_hex(3)}"
    return handle


def user_create(*, email: str, password: str | None, first_name: str = "", last_name: str = "") -> User:
    """Create a user with a unique email (case-insensitive)."""
    email = email.strip().lower()
    if User.objects.filter(email__iexact=email).exists():
        raise Invalid("A user with this email already exists.", loc=["body", "email"], code="email_taken")
    return User.objects.create_user(email=email, password=password, first_name=first_name, last_name=last_name)


@transaction.atomic
def api_key_create(*, owner, name: str, expires_at: datetime | None, actor=_OWNER) -> tuple[ApiKey, str]:
    """Create a key for a user (pnu_) or a service account (pnb_); return the row and the secret.

    The secret is returned once, here, and only its SHA-256 digest is kept. `actor` defaults to the
    owner (a user creating their own key); an admin creating a service account's key passes itself.
    """
    name = (name or "").strip()
    if not name:
        raise Invalid("A key needs a name.", loc=["body", "name"])
    if len(name) > 255:
        raise Invalid("Key names are at most 255 characters.", loc=["body", "name"])
    if expires_at is not None and expires_at <= timezone.now():
        raise Invalid("The expiration must be in the future.", loc=["body", "expiration"])
    is_user = getattr(owner, "actor_type", None) == "user"
    prefix = ApiKey.USER_PREFIX if is_user else ApiKey.SERVICE_ACCOUNT_PREFIX
    body = "".join(secrets.choice(_ALPHABET) for _ in range(SECRET_LENGTH))
    secret = prefix + body
    key = ApiKey.objects.create(
        name=name,
        prefix=prefix,
        lookup=body[:LOOKUP_LENGTH],
        digest=_digest(secret),
        user=owner if is_user else None,
        service_account=None if is_user else owner,
        expires_at=expires_at,
    )
    _audit_key(key, "praetor.api_key.created", actor=owner if actor is _OWNER else actor,
               details={"expires_at": expires_at.isoformat() if expires_at else None})
    return key, secret


def _audit_key(key: ApiKey, action: str, *, actor, details: dict | None = None) -> None:
    """Service-account keys are recorded in their organization; personal keys in each of the owner's."""
    target = {"target_type": "api_key", "target_id": str(key.pk), "target_label": f"{key.name} ({key.display_prefix})"}
    details = {"owner_type": key.owner.actor_type, "owner_id": str(key.owner.pk), **(details or {})}
    if key.service_account_id:
        audit_record(action=action, actor=actor, organization_id=key.service_account.organization_id,
                     details=details, **target)
    else:
        audit_record_for_user(action=action, user=key.user, actor=actor, details=details, **target)


@transaction.atomic
def api_key_revoke(*, key: ApiKey, actor=_OWNER) -> ApiKey:
    """Revoke a key; it answers 401 from the next request on. Revoking twice is a no-op (audited once)."""
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        authcache.access_changed()
        _audit_key(key, "praetor.api_key.revoked", actor=key.owner if actor is _OWNER else actor)
    return key


def api_key_authenticate(secret: str) -> ApiKey:
    """Resolve a presented secret to a usable key, or raise NotFound (the caller answers 401).

    One indexed query by lookup, then a constant-time comparison of digests; none while the key is in
    the per-process auth cache (apps/core/authcache.py: revocation is seen within about a second).
    """
    return api_key_owner_authenticate(secret)[1]


def api_key_owner_authenticate(secret: str) -> tuple:
    """`api_key_authenticate`, returning (the key's owner, the key): the owner it has looked up anyway (every
    API request asks for both; apps/identity/authentication.py)."""
    if not isinstance(secret, str) or len(secret) != _SECRET_CHARACTERS:
        raise NotFound("Invalid API key.")
    prefix = secret[:4]
    if prefix not in _PREFIXES:
        raise NotFound("Invalid API key.")
    digest = _sha256(secret.encode()).hexdigest()  # _digest(secret), without its call
    # The auth cache keeps the key with its owner and whether that is a user (whose `is_active` is checked on
    # every request): read together, without the owner's descriptors (key.owner, user_id) each request.
    cached = authcache.get(digest)  # the digest alone (a str: no other entry's key is one)
    if cached is None:
        key = (
            ApiKey.objects.select_related("user", "service_account")
            .filter(lookup=secret[4:4 + LOOKUP_LENGTH], prefix=prefix)
            .first()
        )
        if key is None or not secrets.compare_digest(key.digest, digest):
            raise NotFound("Invalid API key.")
        owner, of_user = key.owner, bool(key.user_id)
        if key.is_usable() and (not of_user or owner.is_active):
            authcache.put(digest, (key, owner, of_user))
    else:
        key, owner, of_user = cached
    now = clock.now()  # timezone.now(), without LazySettings' USE_TZ read (apps/core/clock.py)
    if not key.is_usable(now):
        raise NotFound("This API key has been revoked or has expired.")
    if of_user and not owner.is_active:
        raise NotFound("Invalid API key.")
    if key.last_used_at is None:
        # The conditional update elects exactly one request as the first use, even when several race.
        with transaction.atomic():
            if ApiKey.objects.filter(pk=key.pk, last_used_at__isnull=True).update(last_used_at=now):
                _audit_key(key, "praetor.api_key.first_used", actor=owner)
        key.last_used_at = now
    elif now - key.last_used_at > _LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return owner, key


@transaction.atomic
def user_get_or_create(*, email: str, password: str) -> tuple[User, bool]:
    user = User.objects.filter(email__iexact=email.strip()).first()
    if user:
        return user, False
    return user_create(email=email, password=password), True


def api_key_get_for_owner(*, owner, key_id) -> ApiKey:
    qs = owner.api_keys.all()
    key = qs.filter(pk=key_id).first()
    if key is None:
        raise NotFound("API key not found.")
    return key
