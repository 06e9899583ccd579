"""Personal API keys in the browser: the secret is shown once, only the owner sees and revokes a key."""

import re

import pytest

from apps.identity.models import ApiKey
from apps.identity.services import api_key_authenticate, api_key_create
from tests.factories.identity import UserFactory

pytestmark = pytest.mark.django_db


def test_create_shows_the_secret_once_and_it_authenticates(client, user):
    client.force_login(user)
    empty = client.get("/settings/api-keys/")
    assert "You have no API keys yet." in empty.content.decode()

    response = client.post("/settings/api-keys/", {"name": "laptop", "expires_on": ""})
    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"]
    html = response.content.decode()
    secret = re.search(r'id="new-key-secret" [^>]*value="(pnu_[A-Za-z0-9]+)"', html).group(1)
    key = api_key_authenticate(secret)
    assert (key.user, key.name, key.expires_at) == (user, "laptop", None)

    listing = client.get("/settings/api-keys/").content.decode()
    assert secret not in listing
    assert f"{key.display_prefix}…" in listing


def test_expiry_date_is_the_start_of_that_day_utc(client, user):
    client.force_login(user)
    client.post("/settings/api-keys/", {"name": "ci", "expires_on": "2999-01-31"})
    key = ApiKey.objects.get(user=user)
    assert key.expires_at.isoformat() == "2999-01-31T00:00:00+00:00"


def test_past_expiry_is_a_field_error_and_creates_nothing(client, user):
    client.force_login(user)
    response = client.post("/settings/api-keys/", {"name": "old", "expires_on": "2000-01-01"})
    assert response.status_code == 400
    assert "The expiration must be in the future." in response.content.decode()
    assert ApiKey.objects.filter(user=user).count() == 0


def test_revoke_own_key(client, user):
    key, secret = api_key_create(owner=user, name="laptop", expires_at=None)
    client.force_login(user)
    response = client.post(f"/settings/api-keys/{key.id}/revoke")
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert "Revoked" in client.get("/settings/api-keys/").content.decode()


def test_cannot_see_or_revoke_another_users_key(client, user):
    other = UserFactory()
    key, _ = api_key_create(owner=other, name="theirs", expires_at=None)
    client.force_login(user)
    assert "theirs" not in client.get("/settings/api-keys/").content.decode()
    response = client.post(f"/settings/api-keys/{key.id}/revoke", follow=True)
    assert "API key not found." in response.content.decode()
    key.refresh_from_db()
    assert key.revoked_at is None


def test_revoke_needs_post(client, user):
    key, _ = api_key_create(owner=user, name="laptop", expires_at=None)
    client.force_login(user)
    assert client.get(f"/settings/api-keys/{key.id}/revoke").status_code == 405
    key.refresh_from_db()
    assert key.revoked_at is None
