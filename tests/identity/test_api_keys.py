from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.errors import Invalid, NotFound
from apps.identity.models import ApiKey
from apps.identity.services import (
    _digest,
    api_key_authenticate,
    api_key_create,
    api_key_owner_authenticate,
    api_key_revoke,
)
from tests.factories.organizations import ServiceAccountFactory

pytestmark = pytest.mark.django_db


def test_user_key_has_pnu_prefix_and_only_a_digest_is_stored(user):
    key, secret = api_key_create(owner=user, name="laptop", expires_at=None)
    assert secret.startswith("pnu_") and len(secret) == 40
    row = ApiKey.objects.get(pk=key.pk)
    assert secret not in (row.digest, row.lookup) and secret[4:] not in row.digest
    assert row.lookup == secret[4:16]
    assert api_key_authenticate(secret).pk == key.pk


def test_service_account_key_has_pnb_prefix():
    bot = ServiceAccountFactory()
    key, secret = api_key_create(owner=bot, name="agent", expires_at=None)
    assert secret.startswith("pnb_")
    assert api_key_authenticate(secret).service_account_id == bot.pk


@pytest.mark.parametrize("secret", ["", "pnu_", "pnu_short", "xyz_" + "a" * 36, "pnu_" + "a" * 36, "pnu_" + "é" * 36])
def test_malformed_or_unknown_keys_are_rejected(user, secret):
    api_key_create(owner=user, name="k", expires_at=None)
    with pytest.raises(NotFound):
        api_key_authenticate(secret)


def test_key_with_right_lookup_but_wrong_rest_is_rejected(user):
    _, secret = api_key_create(owner=user, name="k", expires_at=None)
    forged = secret[:16] + ("A" if secret[16] != "A" else "B") + secret[17:]
    with pytest.raises(NotFound):
        api_key_authenticate(forged)


def test_revoked_key_is_rejected_at_once(user):
    key, secret = api_key_create(owner=user, name="k", expires_at=None)
    api_key_revoke(key=key)
    with pytest.raises(NotFound):
        api_key_authenticate(secret)


def test_expired_key_is_rejected(user):
    key, secret = api_key_create(owner=user, name="k", expires_at=timezone.now() + timedelta(seconds=30))
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(NotFound):
        api_key_authenticate(secret)


def test_expiry_in_the_past_is_invalid(user):
    with pytest.raises(Invalid):
        api_key_create(owner=user, name="k", expires_at=timezone.now() - timedelta(days=1))
    assert ApiKey.objects.count() == 0


def test_last_used_is_recorded(user):
    key, secret = api_key_create(owner=user, name="k", expires_at=None)
    assert key.last_used_at is None
    api_key_authenticate(secret)
    assert ApiKey.objects.get(pk=key.pk).last_used_at is not None


def test_the_owner_returned_with_the_key_is_the_keys_owner(user):
    """ApiKeyAuthentication takes the owner api_key_owner_authenticate looked up: the key's `owner`, cold and
    from the auth cache, for a user's and a service account's key."""
    from apps.identity.services import api_key_owner_authenticate

    bot = ServiceAccountFactory()
    for owner in (user, bot):
        _, secret = api_key_create(owner=owner, name="k", expires_at=None)
        for _ in range(2):  # the first from the database, the second from the auth cache
            found_owner, key = api_key_owner_authenticate(secret)
            assert found_owner is key.owner and found_owner.pk == owner.pk and type(found_owner) is type(owner)
            assert api_key_authenticate(secret) is key


@pytest.mark.parametrize(("age", "written"), [
    (timedelta(seconds=60), False), (timedelta(seconds=60, microseconds=1), True), (timedelta(days=3), True),
    (timedelta(seconds=-5), False)])
def test_last_used_is_written_once_older_than_the_resolution(user, monkeypatch, age, written):
    """last_used_at is written again when it is more than LAST_USED_RESOLUTION_SECONDS old, to the microsecond."""
    from apps.core import authcache

    key, secret = api_key_create(owner=user, name="k", expires_at=None)
    api_key_authenticate(secret)  # the first use
    now = timezone.now()
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=now - age)
    authcache.clear()
    monkeypatch.setattr("apps.identity.services.timezone.now", lambda: now)
    api_key_authenticate(secret)
    assert (ApiKey.objects.get(pk=key.pk).last_used_at == now) is written


def test_the_key_entry_is_found_by_the_digest(user):
    """The auth cache's entry of a key is the key's digest's: a second request reads it (no query), another
    key has its own."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.core import authcache

    authcache.clear()
    key, secret = api_key_create(owner=user, name="k", expires_at=None)
    other, other_secret = api_key_create(owner=user, name="o", expires_at=None)
    assert api_key_owner_authenticate(secret)[1].pk == key.pk
    assert authcache.get(_digest(secret))[0].pk == key.pk and authcache.get(_digest(other_secret)) is None
    with CaptureQueriesContext(connection) as queries:
        assert api_key_owner_authenticate(secret) == (user, key)
    assert not queries.captured_queries
    assert api_key_owner_authenticate(other_secret)[1].pk == other.pk


@pytest.mark.parametrize(("revoked", "expires_in"), [
    (False, None), (True, None), (False, timedelta(microseconds=1)), (False, timedelta(0)),
    (False, timedelta(microseconds=-1)), (True, timedelta(days=1)), (False, timedelta(days=-1))])
def test_a_cached_key_is_refused_exactly_when_it_is_not_usable(user, monkeypatch, revoked, expires_in):
    """The key check on every request (api_key_owner_authenticate, the key read from the auth cache) refuses a
    key exactly when ApiKey.is_usable(now) is false: revoked, or expired at `now` to the microsecond (a key
    expiring at `now` itself is expired)."""
    key, secret = api_key_create(owner=user, name="k", expires_at=None)
    cached = api_key_owner_authenticate(secret)[1]  # the entry's key, checked again on each request
    now = timezone.now()
    cached.revoked_at = now - timedelta(seconds=1) if revoked else None
    cached.expires_at = None if expires_in is None else now + expires_in
    monkeypatch.setattr("apps.identity.services.timezone.now", lambda: now)
    if cached.is_usable(now):
        assert api_key_owner_authenticate(secret)[1] is cached
    else:
        with pytest.raises(NotFound, match="revoked or has expired"):
            api_key_owner_authenticate(secret)


def test_a_cached_key_check_reads_the_clock_without_the_settings(user, monkeypatch, settings):
    """The key check of every request stamps `now` by apps/core/clock.py's `now()` (timezone.now()'s value, without
    LazySettings' USE_TZ read: ~4 k instructions a request); the clock still follows USE_TZ and a frozen
    timezone.now."""
    from django.conf import LazySettings

    key, secret = api_key_create(owner=user, name="k", expires_at=None)
    api_key_owner_authenticate(secret)  # the entry made
    read = []
    getattribute = LazySettings.__getattribute__

    def seen(self, name):
        read.append(name)
        return getattribute(self, name)

    monkeypatch.setattr(LazySettings, "__getattribute__", seen)
    assert api_key_owner_authenticate(secret)[1].pk == key.pk
    monkeypatch.undo()
    assert "USE_TZ" not in read
    # a frozen timezone.now reaches the check (a key expiring at the frozen `now` is refused)
    cached = api_key_owner_authenticate(secret)[1]
    frozen = timezone.now() + timedelta(days=3)
    cached.expires_at = frozen
    monkeypatch.setattr("django.utils.timezone.now", lambda: frozen)
    with pytest.raises(NotFound, match="revoked or has expired"):
        api_key_owner_authenticate(secret)
