"""ApiKeyAuthentication.lean_authenticate (the lean route's authentication, apps/core/api/lean.py) answers exactly
what DRF's path, `authenticate`, answers, for every header: the same (owner, key), the same None, the same
AuthenticationFailed with the same detail. It reads the header from META itself only for printable ASCII with one
space after "Bearer" (any case); these tests also check it never accepts a header `authenticate` refuses."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.test import RequestFactory
from django.utils import timezone
from rest_framework import exceptions

from apps.core import authcache
from apps.identity.authentication import ApiKeyAuthentication
from apps.identity.services import api_key_create, api_key_revoke
from tests.factories.organizations import ServiceAccountFactory

pytestmark = pytest.mark.django_db

_AUTH = ApiKeyAuthentication()


def _request(header):
    request = RequestFactory().get("/api/")
    if header is not None:
        request.META["HTTP_AUTHORIZATION"] = header
    return request


def _outcome(method, header):
    request = _request(header)
    try:
        result = method(request)
    except exceptions.AuthenticationFailed as exc:
        return ("401", str(exc.detail), exc.detail.code)
    except Exception as exc:  # DRF's own (a str header beyond latin-1: UnicodeEncodeError): the same one
        return ("raises", type(exc).__name__, str(exc))
    if result is None:
        return (None, getattr(request, "_praetor_api_key", None))
    owner, key = result
    assert request._praetor_api_key is key
    return (type(owner).__name__, owner.pk, key.pk)


def _same(header):
    drf = _outcome(_AUTH.authenticate, header)
    lean = _outcome(_AUTH.lean_authenticate, header)
    assert lean == drf, (header, lean, drf)
    return lean


@pytest.fixture
def secrets_(user):
    authcache.clear()
    _, user_secret = api_key_create(owner=user, name="k", expires_at=None)
    _, bot_secret = api_key_create(owner=ServiceAccountFactory(), name="b", expires_at=None)
    return user_secret, bot_secret


def _variants(secret):
    """Headers around a valid one: each way DRF's parsing (latin-1 bytes, bytes.split, b"bearer") could differ
    from a str reading."""
    yield f"Bearer {secret}"
    yield f"bearer {secret}"
    yield f"BEARER {secret}"
    yield f"bEaReR {secret}"
    yield f"Bearer  {secret}"  # two spaces: DRF splits them away; not the lean shape
    yield f" Bearer {secret}"
    yield f"Bearer {secret} "
    yield f"Bearer\t{secret}"
    yield f"Bearer {secret}\t"
    yield f"Bearer {secret} extra"
    yield f"Bearer {secret[:-1]}"
    yield f"Bearer {secret}x"
    yield f"Bearer {secret[:20]} {secret[20:]}"
    for ws in ("\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "\x85", "\xa0", "\u2028", "\u3000", "\x00", "\x7f"):
        yield f"Bearer{ws}{secret}"
        yield f"Bearer {secret}{ws}"
        yield f"Bearer {secret[:10]}{ws}{secret[10:]}"
    yield f"Bearer {secret[:10]}é{secret[11:]}"  # latin-1, not ASCII: DRF's decode fails
    yield f"Bearer {secret[:10]}\u20ac{secret[11:]}"  # not latin-1 either
    yield f"Bearer {secret}".encode()  # bytes in META (a test client may put them there)
    yield f"Token {secret}"
    yield f"Bearerx {secret}"
    yield f"Beare {secret}"
    yield "Bearer"
    yield "Bearer "
    yield "bearer x"
    yield ""
    yield " "
    yield None
    yield f"Basic {secret}"
    yield f"Bearer pnx_{secret[4:]}"
    yield f"Bearer {secret.upper()}"
    yield "Bearer \u212a" + secret[1:]  # KELVIN SIGN lower-cases to "k"


def test_every_variant_is_answered_as_drf_answers_it(secrets_):
    for secret in secrets_:
        for header in _variants(secret):
            _same(header)
    # the two keys themselves, found (so the comparisons above covered successes)
    assert _same(f"Bearer {secrets_[0]}")[0] == "User"
    assert _same(f"bearer {secrets_[1]}")[0] == "ServiceAccount"


def test_random_headers_are_answered_as_drf_answers_them(secrets_):
    rng = random.Random(20261207)
    alphabet = "Bb eEaArR\t\n\r\x0b\x0c\x1c\x1f\x00\x7f\x85\xa0é_-.pnu" + secrets_[0]
    for _ in range(3000):
        secret = rng.choice(secrets_)
        head = "".join(rng.choice(["Bearer", "bearer", "BEARER", "Bear", ""]))
        sep = "".join(rng.choice(alphabet[:20]) for _ in range(rng.randrange(0, 3)))
        body = list(secret if rng.random() < 0.5 else "".join(rng.choice(alphabet) for _ in range(rng.randrange(40))))
        for _ in range(rng.randrange(3)):
            if body:
                body[rng.randrange(len(body))] = rng.choice(alphabet)
        _same(head + sep + "".join(body))


def test_lean_never_accepts_what_drf_refuses(secrets_):
    """A header DRF's path refuses (None or 401) is never (owner, key) by the lean one."""
    secret = secrets_[0]
    for header in [*_variants(secret), f"Bearer {secret}\x1c", f"Bearer\x1c{secret}", f"Bearer {secret}\xa0"]:
        drf = _outcome(_AUTH.authenticate, header)
        if drf[0] in (None, "401", "raises"):
            assert _outcome(_AUTH.lean_authenticate, header)[0] in (None, "401", "raises"), header


def test_revoked_expired_and_inactive_answer_alike(secrets_, user):
    secret = secrets_[0]
    header = f"Bearer {secret}"
    assert _same(header)[0] == "User"
    _same(header)  # from the auth cache now
    user.is_active = False
    user.save(update_fields=["is_active"])
    authcache.clear()
    assert _same(header)[0] == "401"
    user.is_active = True
    user.save(update_fields=["is_active"])
    authcache.clear()
    assert _same(header)[0] == "User"
    key, expiring = api_key_create(owner=user, name="e", expires_at=timezone.now() + timedelta(seconds=1))
    assert _same(f"Bearer {expiring}")[0] == "User"
    type(key).objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    authcache.clear()
    assert _same(f"Bearer {expiring}")[0] == "401"
    api_key_revoke(key=type(key).objects.get(lookup=secret[4:16]), actor=user)
    assert _same(header)[0] == "401"
