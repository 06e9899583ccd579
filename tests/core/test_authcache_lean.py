"""The auth cache on the lean route (apps/core/api/lean.py): the key's entry holds the key, its owner and whether
that is a user; the workspace's entry its workspace and access; the rate-limit draw remembers the bucket's key.
A change through a service is in force at the very next lean request, as on DRF's path (tests/core/test_authcache.py):
a revoked key is 401, a role lowered refuses writes (403), a grant removed or a workspace deleted is 404, a tier
changed draws at the new tier's limit, a deactivated user is 401. Every request asserted here that succeeds took
the lean route (DRF's dispatch not called), so the cached entries are the ones read."""

from __future__ import annotations

import json

import pytest

from apps.access import catalog
from apps.access.models import WorkspaceGrant
from apps.access.services import workspace_access_delete, workspace_access_set
from apps.billing.services import organization_tier_set
from apps.identity.models import ApiKey
from apps.identity.services import api_key_revoke
from apps.organizations.models import Tier
from apps.ratelimit import middleware as ratelimit_middleware
from apps.ratelimit.selectors import organization_limits
from apps.workspaces.services import workspace_delete
from tests.engine.runs_helpers import base, create_flow, create_flow_run, member_client, set_flow_state, state

pytestmark = pytest.mark.django_db


@pytest.fixture
def drf(dispatches, monkeypatch, settings):
    """The views DRF's dispatch answered (an empty list: the lean route answered)."""
    settings.PRAETOR_LEAN_VIEWS = True
    monkeypatch.setattr(ratelimit_middleware, "_recent_failures", {})
    return dispatches


@pytest.fixture
def running(authed_client, workspace):
    run = create_flow_run(authed_client, workspace, create_flow(authed_client, workspace)["id"])
    set_flow_state(authed_client, workspace, run["id"], "RUNNING")
    return run


def _read(client, workspace, run):
    return client.get(base(workspace) + f"flow_runs/{run['id']}")


def _write(client, workspace, run, key: str):
    body = {"flow_run_id": run["id"], "task_key": "k", "dynamic_key": key, "name": "t", "state": state("PENDING"),
            "tags": [], "task_inputs": {}, "cache_key": None}
    return client.post(base(workspace) + "task_runs/", data=json.dumps(body), content_type="application/json")


def _lean(drf, response, status: int):
    """The response's status, and that the lean route answered it (twice in a row: the second from the cache)."""
    assert response.status_code == status, response.content
    assert drf == [], drf


def test_a_revoked_key_is_refused_at_the_next_lean_request(authed_client, workspace, running, user_key, drf):
    for _ in range(2):
        _lean(drf, _read(authed_client, workspace, running), 200)
    api_key_revoke(key=ApiKey.objects.get(lookup=user_key[4:16]))
    response = _read(authed_client, workspace, running)
    assert response.status_code == 401
    assert response.json()["detail"] == "This API key has been revoked or has expired."


def test_a_deactivated_user_is_refused_at_the_next_lean_request(authed_client, workspace, running, user, drf):
    for _ in range(2):
        _lean(drf, _read(authed_client, workspace, running), 200)
    # The cached owner is the one whose `is_active` every request reads: a change of that object (as a
    # service that deactivates saves it) is in force at once; one by SQL waits for the entry's TTL, as before.
    from apps.core import authcache

    cached = [entry for _, entry in authcache._cache._entries.values()
              if isinstance(entry, tuple) and len(entry) == 3 and isinstance(entry[0], ApiKey)]
    assert len(cached) == 1 and cached[0][1] == user and cached[0][2] is True
    cached[0][1].is_active = False
    assert _read(authed_client, workspace, running).status_code == 401
    authcache.access_changed()
    type(user).objects.filter(pk=user.pk).update(is_active=False)
    assert _read(authed_client, workspace, running).status_code == 401  # read again from the row: inactive


def test_a_lowered_role_refuses_writes_and_a_removed_grant_is_404_at_the_next_lean_request(
        organization, workspace, running, user, drf):
    client, member = member_client(organization, workspace, catalog.COLLABORATOR)
    for i in range(2):
        _lean(drf, _write(client, workspace, running, f"w{i}"), 201)
    workspace_access_set(workspace=workspace, principal_type="user", principal_id=member.pk,
                         role_id=catalog.READ_ONLY_COLLABORATOR.id, actor=user)
    assert _write(client, workspace, running, "w-after").status_code == 403
    _lean(drf, _read(client, workspace, running), 200)  # still a reader
    drf.clear()
    workspace_access_delete(grant=WorkspaceGrant.objects.for_workspace(workspace.pk).get(user=member), actor=user)
    assert _read(client, workspace, running).status_code == 404


def test_a_deleted_workspace_is_404_at_the_next_lean_request(authed_client, organization, workspace, running, user,
                                                            drf):
    for _ in range(2):
        _lean(drf, _read(authed_client, workspace, running), 200)
    workspace_delete(workspace=workspace, actor=user)
    assert _read(authed_client, workspace, running).status_code == 404


def test_another_workspaces_id_is_404_on_the_lean_route(authed_client, organization, workspace, running, drf):
    from tests.factories.organizations import OrganizationFactory
    from tests.factories.workspaces import WorkspaceFactory

    _lean(drf, _read(authed_client, workspace, running), 200)
    foreign = WorkspaceFactory(organization=OrganizationFactory())
    assert _read(authed_client, foreign, running).status_code == 404
    mine = WorkspaceFactory(organization=organization)  # a workspace of mine: the run is not in it
    assert _read(authed_client, mine, running).status_code == 404


def test_a_tier_change_draws_at_the_new_limit_at_the_next_lean_request(authed_client, organization, workspace,
                                                                        running, drf):
    limits = {}
    for tier in (Tier.STARTER, Tier.ENTERPRISE):
        organization_tier_set(organization=organization, tier=tier)
        organization.refresh_from_db()
        for _ in range(2):
            response = _read(authed_client, workspace, running)
            _lean(drf, response, 200)
        limits[tier] = int(response["RateLimit-Limit"])
        assert limits[tier] == organization_limits(organization)["api"]
    assert limits[Tier.STARTER] != limits[Tier.ENTERPRISE]
