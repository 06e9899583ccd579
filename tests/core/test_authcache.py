"""The per-process auth cache (apps/core/authcache.py): a hot request pays no query for its key, workspace
and access, and a change of access is still in force promptly: at once through a service in this process,
within the epoch poll (1 s) when another process announced it, within the TTL when nobody did."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.utils import timezone

from apps.core import authcache
from apps.identity.models import ApiKey
from apps.identity.services import api_key_create, api_key_revoke
from apps.organizations.models import Membership
from apps.organizations.services import membership_remove
from tests.factories.identity import UserFactory
from tests.factories.organizations import membership

pytestmark = pytest.mark.django_db


def _flows(client, ws):
    return client.post(f"/api/accounts/{ws.organization_id}/workspaces/{ws.pk}/flows/filter", {}, format="json")


@pytest.fixture
def clock(monkeypatch):
    """authcache's monotonic clock, moved forward by hand."""
    import time

    offset = [0.0]
    monkeypatch.setattr(authcache, "_clock", lambda: time.monotonic() + offset[0])
    return offset


def test_a_warm_request_reads_neither_key_nor_workspace_nor_access(authed_client, workspace,
                                                                    django_assert_num_queries):
    assert _flows(authed_client, workspace).status_code == 200
    with django_assert_num_queries(1):  # the flows themselves
        assert _flows(authed_client, workspace).status_code == 200


def test_revoking_a_key_through_the_service_is_in_force_at_the_next_request(authed_client, workspace, user_key):
    assert _flows(authed_client, workspace).status_code == 200
    api_key_revoke(key=ApiKey.objects.get(lookup=user_key[4:16]))
    response = _flows(authed_client, workspace)
    assert response.status_code == 401
    assert response.json()["detail"] == "This API key has been revoked or has expired."


def test_removing_a_member_is_in_force_at_the_next_request(api_client, organization, workspace, user):
    member = UserFactory()
    membership(organization, member, "member")
    _, secret = api_key_create(owner=member, name="k", expires_at=None)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert _flows(api_client, workspace).status_code == 200
    membership_remove(membership=Membership.objects.for_organization(organization).get(user=member), actor=user)
    assert _flows(api_client, workspace).status_code == 404


def test_a_change_announced_by_another_process_is_seen_within_the_epoch_poll(authed_client, workspace, user_key,
                                                                           clock):
    assert _flows(authed_client, workspace).status_code == 200
    # Another process revoked the key: the row changed and the shared epoch moved, this process was not told.
    ApiKey.objects.filter(lookup=user_key[4:16]).update(revoked_at=timezone.now())
    key = authcache._epoch_key()
    cache.add(key, 0, timeout=None)
    cache.incr(key)
    clock[0] += authcache.EPOCH_POLL_SECONDS + 0.01
    assert _flows(authed_client, workspace).status_code == 401


def test_an_unannounced_change_is_seen_when_the_entry_expires(authed_client, workspace, user_key, clock, settings):
    settings.PRAETOR_AUTH_CACHE_SECONDS = 5
    assert _flows(authed_client, workspace).status_code == 200
    ApiKey.objects.filter(lookup=user_key[4:16]).update(revoked_at=timezone.now())  # e.g. SQL by hand
    clock[0] += 4.0
    assert _flows(authed_client, workspace).status_code == 200  # the documented bound, not a leak
    clock[0] += 1.01
    assert _flows(authed_client, workspace).status_code == 401


def test_a_cached_key_still_expires_on_time(api_client, user, workspace, monkeypatch):
    _, secret = api_key_create(owner=user, name="k", expires_at=timezone.now() + timezone.timedelta(minutes=5))
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert _flows(api_client, workspace).status_code == 200
    later = timezone.now() + timezone.timedelta(minutes=6)
    monkeypatch.setattr("apps.identity.services.timezone.now", lambda: later)
    assert _flows(api_client, workspace).status_code == 401


def test_zero_seconds_turns_the_cache_off(authed_client, workspace, settings, django_assert_num_queries):
    settings.PRAETOR_AUTH_CACHE_SECONDS = 0
    assert _flows(authed_client, workspace).status_code == 200
    with django_assert_num_queries(4):  # key, workspace, access, the flows
        assert _flows(authed_client, workspace).status_code == 200


def test_a_catalog_edit_that_exposes_workspace_roles_is_in_force_at_the_next_request(api_client, organization,
                                                                                      workspace):
    # On a tier without workspace roles every member administers every workspace; once an operator's
    # catalog edit (plan_changed) gives that tier workspace roles, a member with no grant there loses it.
    from apps.billing.models import Plan
    from apps.billing.services import plan_changed

    Plan.objects.filter(slug=organization.tier).update(roles="none")
    plan_changed(plan=Plan.objects.get(slug=organization.tier))
    member = UserFactory()
    membership(organization, member, "member")
    _, secret = api_key_create(owner=member, name="k", expires_at=None)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert _flows(api_client, workspace).status_code == 200
    Plan.objects.filter(slug=organization.tier).update(roles="system")
    plan_changed(plan=Plan.objects.get(slug=organization.tier))
    assert _flows(api_client, workspace).status_code == 404


def test_the_urls_spelling_of_the_ids_lives_exactly_as_the_workspace_entry(api_client, organization, workspace,
                                                                           clock, settings):
    """The workspace and access are found by the URL's own text of the ids (no parsing) through an alias of the
    workspace's entry: an unannounced change (SQL) is seen when that entry expires, not one alias later."""
    settings.PRAETOR_AUTH_CACHE_SECONDS = 5
    member = UserFactory()
    membership(organization, member, "member")
    _, secret = api_key_create(owner=member, name="k", expires_at=None)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert _flows(api_client, workspace).status_code == 200  # the entry is made here
    clock[0] += 4.0
    upper = f"/api/accounts/{str(workspace.organization_id).upper()}/workspaces/{workspace.pk}/flows/filter"
    assert api_client.post(upper, {}, format="json").status_code == 200  # another spelling: an alias, 1 s to live
    Membership.objects.for_organization(organization).filter(user=member).delete()  # by hand: nobody announces it
    assert _flows(api_client, workspace).status_code == 200  # the documented bound
    assert api_client.post(upper, {}, format="json").status_code == 200
    clock[0] += 1.01
    assert _flows(api_client, workspace).status_code == 404
    assert api_client.post(upper, {}, format="json").status_code == 404


def test_the_urls_spelling_of_the_ids_goes_with_a_change_through_a_service(api_client, organization, workspace, user,
                                                                          django_assert_num_queries):
    member = UserFactory()
    membership(organization, member, "member")
    _, secret = api_key_create(owner=member, name="k", expires_at=None)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert _flows(api_client, workspace).status_code == 200
    with django_assert_num_queries(1):  # the flows: key, workspace and access from the cache
        assert _flows(api_client, workspace).status_code == 200
    membership_remove(membership=Membership.objects.for_organization(organization).get(user=member), actor=user)
    assert _flows(api_client, workspace).status_code == 404
    # A malformed id is 404 before any cache, as before.
    bad = f"/api/accounts/not-a-uuid/workspaces/{workspace.pk}/flows/filter"
    assert api_client.post(bad, {}, format="json").status_code == 404


def test_a_lookup_reads_no_setting_and_follows_a_change_of_the_ttl(settings, monkeypatch, clock):
    """PRAETOR_AUTH_CACHE_SECONDS is read once, and again after a change of it (setting_changed), not per lookup."""
    settings.PRAETOR_AUTH_CACHE_SECONDS = 5
    authcache.put(("k",), "v")
    assert authcache.get(("k",)) == "v"
    real = authcache.settings

    class Unreadable:
        def __getattr__(self, name):
            raise AssertionError(f"settings.{name} read by a lookup")

    monkeypatch.setattr(authcache, "settings", Unreadable())
    monkeypatch.setattr(authcache, "EPOCH_POLL_SECONDS", 10**9)  # the epoch's poll reads the prefix: not now
    assert [authcache.get(("k",)) for _ in range(3)] == ["v"] * 3
    monkeypatch.setattr(authcache, "settings", real)
    settings.PRAETOR_AUTH_CACHE_SECONDS = 2
    clock[0] += 2.5
    assert authcache.get(("k",)) is None  # 2.5 s old: past the new TTL, within the old one
    settings.PRAETOR_AUTH_CACHE_SECONDS = 0
    authcache.put(("k",), "v")
    assert authcache.get(("k",)) is None
