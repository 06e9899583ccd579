"""WorkspaceAPIView.resolve_tenant's remembered answer (branch tenant2): the URL's spelling of the ids finds the
workspace, the access and the workspace's organization in one entry derived from workspace_context's (the same age,
emptied with it), the actor keyed by its `id` (no `pk` property, no UUID.__hash__)."""

from __future__ import annotations

import uuid

import pytest
from django.db.models import Model
from django.db.models.fields.related_descriptors import ForwardManyToOneDescriptor

from apps.core import authcache
from apps.core.api.views import WorkspaceAPIView, _workspace_key
from apps.core.errors import NotFound
from apps.identity.models import User
from apps.organizations.models import ServiceAccount
from tests.factories.identity import UserFactory
from tests.factories.organizations import ServiceAccountFactory, membership
from tests.factories.workspaces import WorkspaceFactory

pytestmark = pytest.mark.django_db


class _Request:
    def __init__(self, user):
        self.user = user


def _resolve(actor, workspace, account=None):
    view, request = WorkspaceAPIView(), _Request(actor)
    kwargs = {"account_id": account or str(workspace.organization_id), "workspace_id": str(workspace.pk)}
    view.resolve_tenant(request, kwargs)
    return view, request


@pytest.fixture
def clock(monkeypatch):
    import time

    offset = [0.0]
    # the epoch poll's last time, read by the moved clock, put back afterwards (the next test's clock is real)
    monkeypatch.setattr(authcache._cache, "_epoch_checked", authcache._cache._epoch_checked)
    monkeypatch.setattr(authcache, "_clock", lambda: time.monotonic() + offset[0])
    return offset


@pytest.fixture
def spies(monkeypatch):
    """Counts of the calls a remembered resolve no longer makes: the ForeignKey descriptor (workspace.organization),
    Model._get_pk_val (actor.pk) and UUID.__hash__."""
    seen = {"organization": 0, "pk": 0, "uuid hash": 0}
    descriptor_get, pk_val, uuid_hash = ForwardManyToOneDescriptor.__get__, Model._get_pk_val, uuid.UUID.__hash__

    def counted_get(self, instance, cls=None):
        seen["organization"] += instance is not None and self.field.name == "organization"
        return descriptor_get(self, instance, cls)

    def counted_pk(self, meta=None):
        seen["pk"] += 1
        return pk_val(self, meta)

    def counted_hash(self):
        seen["uuid hash"] += 1
        return uuid_hash(self)

    monkeypatch.setattr(ForwardManyToOneDescriptor, "__get__", counted_get)
    monkeypatch.setattr(Model, "_get_pk_val", counted_pk)
    monkeypatch.setattr(uuid.UUID, "__hash__", counted_hash)
    return seen


def test_a_remembered_resolve_reads_no_organization_descriptor_no_pk_and_hashes_no_uuid(user, workspace, spies,
                                                                                        django_assert_num_queries):
    first_view, first_request = _resolve(user, workspace)
    for name in spies:
        spies[name] = 0
    with django_assert_num_queries(0):
        view, request = _resolve(user, workspace)
    assert spies == {"organization": 0, "pk": 0, "uuid hash": 0}
    # The same objects as the first (and as workspace.organization gives).
    assert view.workspace is first_view.workspace and request.access is first_request.access
    assert view.organization is request.organization is first_view.workspace.organization
    assert request.workspace is view.workspace and request.organization.pk == workspace.organization_id


def test_the_remembered_entry_has_the_workspace_entrys_age_and_goes_with_it(user, workspace, clock, settings):
    settings.PRAETOR_AUTH_CACHE_SECONDS = 5
    _resolve(user, workspace)  # the workspace entry and the path entry, made at once
    org_id, ws_id = workspace.organization_id, workspace.pk
    (path_entry,) = [entry for key, entry in authcache._cache._entries.items() if key[0] == "workspace path"]
    workspace_entry = authcache._cache._entries[_workspace_key(user, org_id, ws_id)]
    assert path_entry[0] == workspace_entry[0]
    assert path_entry[1] == (*workspace_entry[1], workspace_entry[1][0].organization)
    # Another spelling of the ids (upper case) made later lives only as long as the workspace entry.
    clock[0] += 4.0
    _resolve(user, workspace, account=str(org_id).upper())
    clock[0] += 1.01
    assert authcache.get(_workspace_key(user, org_id, ws_id)) is None
    assert all(authcache.get(key) is None for key in list(authcache._cache._entries) if key[0] == "workspace path")


def test_derive_makes_nothing_without_the_entry_and_keeps_its_age(clock, settings):
    settings.PRAETOR_AUTH_CACHE_SECONDS = 5
    authcache.derive(("derived",), ("missing",), lambda value: value)
    assert authcache.get(("derived",)) is None
    authcache.put(("of",), (1, 2))
    clock[0] += 3.0
    authcache.derive(("derived",), ("of",), lambda value: (*value, 3))
    assert authcache.get(("derived",)) == (1, 2, 3)
    clock[0] += 2.0  # the entry's 5 s, counted from the put
    assert authcache.get(("derived",)) is None
    authcache.put(("of",), (1, 2))
    authcache.derive(("derived",), ("of",), lambda value: (*value, 3))
    authcache.clear()
    assert authcache.get(("derived",)) is None


def test_actors_are_told_apart_and_an_outsider_is_404(user, organization, workspace):
    """Each actor its own entry: a member's remembered answer is not an outsider's, nor a service account's with the
    same id's text; another workspace's member sees nothing of this one."""
    _resolve(user, workspace)
    outsider = UserFactory()
    with pytest.raises(NotFound):
        _resolve(outsider, workspace)
    other = WorkspaceFactory()
    membership(other.organization, outsider, "owner")
    _resolve(outsider, other)
    with pytest.raises(NotFound):
        _resolve(outsider, workspace)
    bot = ServiceAccountFactory()  # of another organization
    bot.id = user.id  # the same UUID, another actor type: its own entry (and no access here)
    with pytest.raises(NotFound):
        _resolve(bot, workspace)


def test_the_actors_id_is_their_pk():
    """The path key reads `actor.id` for `actor.pk`: true while both actor models keep `id` as their pk."""
    assert User._meta.pk.attname == "id"
    assert ServiceAccount._meta.pk.attname == "id"
