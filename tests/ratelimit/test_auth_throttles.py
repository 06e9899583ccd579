"""Sign-in, sign-up and password reset are throttled per IP and per account by allauth's own limits
as configured in config/settings/allauth.py (the test settings turn them off; these tests turn the
production values back on, with a cache of their own)."""

from __future__ import annotations

import uuid

import pytest
from django.core import mail

from config.settings.allauth import ACCOUNT_RATE_LIMITS
from tests.factories.identity import UserFactory

pytestmark = pytest.mark.django_db

WRONG = "The email address and/or password you specified are not correct."
TOO_MANY = "Too many failed login attempts. Try again later."


@pytest.fixture(autouse=True)
def production_throttles(settings):
    settings.ACCOUNT_RATE_LIMITS = ACCOUNT_RATE_LIMITS
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}
    }


def sign_in(client, email: str, password: str, ip: str = "198.51.100.1"):
    return client.post("/accounts/login/", {"login": email, "password": password}, REMOTE_ADDR=ip)


def test_brute_force_on_one_account_is_stopped_even_with_the_right_password(client):
    victim = UserFactory()
    failures = [sign_in(client, victim.email, f"guess-{i}", ip=f"198.51.100.{i}") for i in range(5)]
    assert all(r.status_code == 200 and WRONG in r.content.decode() for r in failures)
    # Sixth attempt, from yet another address and with the right password: refused for this account.
    blocked = sign_in(client, victim.email, "correct horse battery", ip="198.51.100.99")
    assert blocked.status_code == 200 and TOO_MANY in blocked.content.decode()
    assert "_auth_user_id" not in client.session


def test_brute_force_from_one_address_is_stopped_across_accounts(client):
    users = [UserFactory() for _ in range(11)]
    failures = [sign_in(client, u.email, "wrong password") for u in users[:10]]
    assert all(WRONG in r.content.decode() for r in failures)
    blocked = sign_in(client, users[10].email, "correct horse battery")
    assert TOO_MANY in blocked.content.decode()
    # Another address may still sign in to that account.
    allowed = sign_in(client, users[10].email, "correct horse battery", ip="203.0.113.5")
    assert TOO_MANY not in allowed.content.decode() and WRONG not in allowed.content.decode()


def test_sign_in_posts_are_limited_per_address(client):
    user = UserFactory()
    # Successful sign-ins do not count as failures, but every POST counts against "login": 30/m/ip.
    answers = [sign_in(client, user.email, "correct horse battery") for _ in range(31)]
    assert [r.status_code for r in answers] == [302] * 30 + [429]
    assert "Too many attempts" in answers[30].content.decode()


def test_password_reset_is_limited_per_account(client):
    user = UserFactory()
    statuses = [
        client.post("/accounts/password/reset/", {"email": user.email}, REMOTE_ADDR=f"198.51.100.{i}").status_code
        for i in range(6)
    ]
    assert statuses == [302] * 5 + [429]
    assert len(mail.outbox) == 5


def test_sign_up_is_limited_per_address(client):
    statuses = [
        client.post(
            "/accounts/signup/",
            {"email": f"new{i}@example.com", "password1": "a long pass phrase 1", "password2": "a long pass phrase 1"},
        ).status_code
        for i in range(21)
    ]
    assert statuses == [302] * 20 + [429]
