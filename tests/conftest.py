"""Shared fixtures: real PostgreSQL and Redis (checked once), the tenant graph from factories."""

from __future__ import annotations

import socket
import uuid

import pytest
from django.db import connections
from rest_framework.test import APIClient

from tests.factories.identity import UserFactory
from tests.factories.organizations import OrganizationFactory, membership
from tests.factories.workspaces import WorkspaceFactory


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def pytest_sessionstart(session):
    missing = [name for name, port in (("PostgreSQL", 5432), ("Redis", 6379)) if not _reachable("127.0.0.1", port)]
    if missing:
        pytest.exit(
            f"{' and '.join(missing)} not reachable on 127.0.0.1: run scripts/services.sh (or `make test`).",
            returncode=3,
        )


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """`--reuse-db` (pyproject.toml) keeps the test database between runs. A run stopped part-way (Ctrl-C, a
    killed session) while a module-scoped live server's data was committed leaves those rows behind, and the next
    run would find them: a second user with the same email, a second audit chain. So every session starts from
    what `migrate` made: emptied, with the tier catalog put back, as after any transactional test. Only a database
    pytest-django set up as a test database (none when no collected test uses one) is emptied."""
    from django.core.management import call_command
    from django.db import connections

    from apps.billing.catalog import tier_catalog_restore

    with django_db_blocker.unblock():
        for alias in connections:
            settings_dict = connections[alias].settings_dict
            if settings_dict["NAME"] != settings_dict.get("TEST", {}).get("NAME"):
                continue
            call_command("flush", database=alias, interactive=False, verbosity=0)
            if alias == "default":
                tier_catalog_restore()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """A transactional test (live_server, browser) ends with a flush that also empties tables seeded by
    data migrations; put the billing tier catalog back so later tests see what `migrate` made."""
    yield
    marker = item.get_closest_marker("django_db")
    transactional = marker is not None and (marker.kwargs.get("transaction") or (marker.args and marker.args[0]))
    fixtures = getattr(item, "fixturenames", ())
    if transactional or "live_server" in fixtures or "transactional_db" in fixtures:
        from pytest_django.plugin import blocking_manager_key

        from apps.billing.catalog import tier_catalog_restore

        with item.config.stash[blocking_manager_key].unblock():
            tier_catalog_restore()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def organization(db, user):
    org = OrganizationFactory()
    membership(org, user, "owner")
    return org


@pytest.fixture
def workspace(db, organization):
    return WorkspaceFactory(organization=organization)


@pytest.fixture
def user_key(db, user) -> str:
    from apps.identity.services import api_key_create

    _, secret = api_key_create(owner=user, name="test", expires_at=None)
    return secret


@pytest.fixture
def authed_client(api_client, user_key) -> APIClient:
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {user_key}")
    return api_client


@pytest.fixture(autouse=True)
def _empty_auth_cache():
    """Each test starts with an empty per-process auth cache (apps/core/authcache.py): rows a test cached
    must not answer for the next test's rolled-back database."""
    from apps.core import authcache

    authcache.clear()


@pytest.fixture(autouse=True)
def _ratelimit_namespace(settings):
    """Every test starts with full rate-limit buckets: its keys carry a namespace of their own."""
    settings.PRAETOR_RATELIMIT_NAMESPACE = f"t{uuid.uuid4().hex[:12]}:"


@pytest.fixture
def async_unsafe_refused(monkeypatch):
    """Django's refusal of sync database work in a running event loop, as in production: tests/browser/conftest.py
    sets DJANGO_ALLOW_ASYNC_UNSAFE for the whole session when the browser tests are collected."""
    monkeypatch.delenv("DJANGO_ALLOW_ASYNC_UNSAFE", raising=False)


@pytest.fixture
def connection_lookups(monkeypatch):
    """The aliases looked up in `django.db.connections` from here on (its `__getitem__`: directly, or through
    `django.db.connection`)."""
    seen: list = []
    handler = type(connections)
    getitem = handler.__getitem__

    def counting(self, alias):
        seen.append(alias)
        return getitem(self, alias)

    monkeypatch.setattr(handler, "__getitem__", counting)
    return seen
