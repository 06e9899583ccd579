"""A person's own keys through Cloud's /api/users/{u}/api_keys: create (secret once), list, read, revoke;
anyone else's keys, or a service account calling, are 404."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.identity.models import ApiKey
from apps.identity.services import api_key_create
from tests.factories.identity import UserFactory
from tests.factories.organizations import ServiceAccountFactory

pytestmark = pytest.mark.django_db


def bearer(secret) -> APIClient:
    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return c


def test_create_list_revoke_own_keys(user, authed_client):
    base = f"/api/users/{user.pk}/api_keys"
    expiry = timezone.now() + timedelta(days=7)
    r = authed_client.post(base, {"name": "laptop", "expiration": expiry.isoformat()}, format="json")
    assert r.status_code == 201
    created = r.json()
    assert created["key"].startswith("pnu_") and len(created["key"]) == 40
    assert created["prefix"] == created["key"][:16]
    assert bearer(created["key"]).get("/api/me/").json()["email"] == user.email
    rows = authed_client.get(base).json()
    assert [(row["name"], row["key"]) for row in rows] == [("laptop", None), ("test", None)]
    assert authed_client.get(f"{base}/{created['id']}").json()["last_used"] is not None
    assert authed_client.delete(f"{base}/{created['id']}").status_code == 204
    assert bearer(created["key"]).get("/api/me/").status_code == 401
    assert ApiKey.objects.get(pk=created["id"]).revoked_at is not None


@pytest.mark.parametrize("payload", [{}, {"name": ""}, {"name": "x" * 256}, {"name": "k", "expiration": "soon"},
                                     {"name": "k", "expiration": "2001-01-01T00:00:00Z"}, {"name": "k", "scope": "a"}])
def test_bad_input_is_422_and_creates_nothing(user, authed_client, payload):
    before = ApiKey.objects.count()
    r = authed_client.post(f"/api/users/{user.pk}/api_keys", payload, format="json")
    assert r.status_code == 422
    assert ApiKey.objects.count() == before


def test_another_users_keys_are_404(user, authed_client):
    other = UserFactory()
    key, secret = api_key_create(owner=other, name="theirs", expires_at=None)
    assert authed_client.get(f"/api/users/{other.pk}/api_keys").status_code == 404
    assert authed_client.post(f"/api/users/{other.pk}/api_keys", {"name": "x"}, format="json").status_code == 404
    assert authed_client.delete(f"/api/users/{other.pk}/api_keys/{key.pk}").status_code == 404
    # Their key id under my own user path is not mine either.
    assert authed_client.delete(f"/api/users/{user.pk}/api_keys/{key.pk}").status_code == 404
    assert authed_client.get(f"/api/users/{user.pk}/api_keys/not-a-uuid").status_code == 404
    assert bearer(secret).get("/api/me/").status_code == 200


def test_service_account_has_no_user_keys():
    bot = ServiceAccountFactory()
    _, secret = api_key_create(owner=bot, name="b", expires_at=None)
    assert bearer(secret).get(f"/api/users/{bot.pk}/api_keys").status_code == 404
