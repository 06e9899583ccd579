"""The audit trail: hash chain per organization, verification, retention, append-only, the API."""

import threading
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.utils import timezone

from apps.audit.models import AppendOnlyError, AuditEvent
from apps.audit.selectors import audit_chain_verify
from apps.audit.services import GENESIS_HASH, RequestContext, audit_record
from apps.audit.tasks import apply_retention
from apps.identity.services import api_key_create
from apps.organizations.models import Tier
from tests.factories.identity import UserFactory
from tests.factories.organizations import OrganizationFactory, membership

pytestmark = pytest.mark.django_db


def _record(org, n=1, **kw):
    user = kw.pop("actor", None) or UserFactory()
    return [audit_record(action="praetor.team.created", actor=user, organization_id=org.pk,
                         target_type="team", target_id=str(i), details={"i": i}, **kw) for i in range(n)]


def test_events_chain_per_organization():
    a, b = OrganizationFactory(), OrganizationFactory()
    ea = _record(a, 3)
    eb = _record(b, 2)
    assert [e.seq for e in ea] == [1, 2, 3] and [e.seq for e in eb] == [1, 2]
    assert ea[0].prev_hash == GENESIS_HASH
    assert ea[1].prev_hash == ea[0].hash and ea[2].prev_hash == ea[1].hash
    assert eb[0].prev_hash == GENESIS_HASH
    assert audit_chain_verify(organization_id=a.pk).ok


def test_record_carries_actor_context_and_cloud_name():
    org = OrganizationFactory()
    user = UserFactory(email="ada@example.com")
    event = audit_record(action="praetor.api_key.created", actor=user, organization_id=org.pk,
                         target_type="api_key", target_id="k1", target_label="ci",
                         context=RequestContext(ip_address="10.0.0.7", user_agent="curl/8"))
    event = AuditEvent.objects.get(pk=event.pk)
    assert (event.actor_type, event.actor_id, event.actor_label) == ("user", user.pk, "ada@example.com")
    assert (event.ip_address, event.user_agent) == ("10.0.0.7", "curl/8")
    assert event.cloud_event == "prefect-cloud.api-key.created"


def test_unknown_action_is_refused():
    with pytest.raises(ValueError, match="Unknown audit action"):
        audit_record(action="praetor.nope.done", actor=None, organization_id=None)


def test_events_are_append_only():
    event = _record(OrganizationFactory())[0]
    event.details = {"i": 99}
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(details={})
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).delete()


def test_rolled_back_action_leaves_no_event():
    org = OrganizationFactory()
    with pytest.raises(RuntimeError), transaction.atomic():
        _record(org)
        raise RuntimeError("the action failed")
    assert not AuditEvent.objects.filter(organization_id=org.pk).exists()


def test_verify_command_passes_then_detects_an_edited_row():
    org = OrganizationFactory()
    events = _record(org, 4)
    out = StringIO()
    call_command("verify_audit_trail", stdout=out)
    assert f"ok      {org.pk}: 4 events" in out.getvalue()
    with connection.cursor() as cursor:  # an attacker edits a row directly in the database
        cursor.execute("UPDATE audit_auditevent SET details = %s WHERE id = %s", ['{"i": 42}', events[1].pk])
    out = StringIO()
    with pytest.raises(CommandError, match="1 of 1 audit chains are broken"):
        call_command("verify_audit_trail", stdout=out)
    assert f"BROKEN  {org.pk}: seq 2: contents do not match its hash (edited)." in out.getvalue()


def test_verify_detects_a_deleted_row():
    org = OrganizationFactory()
    events = _record(org, 3)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [events[1].pk])
    report = audit_chain_verify(organization_id=org.pk)
    assert report.problems == ["seq 2..2: missing (deleted).", "seq 3: does not link to seq 1."]


def test_retention_deletes_old_events_per_tier_and_chain_still_verifies():
    growth = OrganizationFactory(tier=Tier.GROWTH)  # no trail in the plan: the 7-day floor
    enterprise = OrganizationFactory(tier=Tier.ENTERPRISE)  # 365 days
    now = timezone.now()
    for org in (growth, enterprise):
        for age in (400, 200, 100, 3):
            audit_record(action="praetor.team.created", actor=None, organization_id=org.pk,
                         occurred=now - timedelta(days=age))
    assert apply_retention() == 3 + 1
    assert list(AuditEvent.objects.filter(organization_id=growth.pk).order_by("seq")
                .values_list("seq", "action")) == [(4, "praetor.team.created"), (5, "praetor.audit.retention_applied")]
    assert AuditEvent.objects.filter(organization_id=enterprise.pk).count() == 3 + 1
    assert audit_chain_verify(organization_id=growth.pk).ok
    assert audit_chain_verify(organization_id=enterprise.pk).ok
    # Twice in a row: nothing left to delete, no new checkpoint.
    assert apply_retention() == 0
    assert AuditEvent.objects.filter(organization_id=growth.pk).count() == 2


def test_deleting_the_chain_start_without_checkpoint_is_detected():
    org = OrganizationFactory()
    events = _record(org, 3)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [events[0].pk])
    assert audit_chain_verify(organization_id=org.pk).problems == [
        "seq 1..1: missing without a retention checkpoint."]


def _in_own_connection(fn):
    """Run fn in a thread, i.e. on its own autocommitting connection outside the test's transaction."""
    result, errors = [], []

    def run():
        try:
            result.append(fn())
        except Exception as exc:  # surfaced to the test
            errors.append(exc)
        finally:
            connection.close()

    t = threading.Thread(target=run)
    t.start()
    t.join(timeout=60)
    assert errors == []
    return result[0] if result else None


def test_concurrent_writers_of_one_organization_keep_one_chain():
    # Audit rows carry the organization as a plain id, so writers on their own connections (committing
    # for real, racing each other) need no fixture rows; the test removes what they committed.
    org_id = uuid.uuid4()
    errors = []

    def write():
        try:
            for _ in range(10):
                with transaction.atomic():
                    audit_record(action="praetor.team.created", actor=None, organization_id=org_id)
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write) for _ in range(4)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert errors == []
        seqs = _in_own_connection(lambda: sorted(AuditEvent.objects.filter(organization_id=org_id)
                                                 .values_list("seq", flat=True)))
        assert seqs == list(range(1, 41))
        assert _in_own_connection(lambda: audit_chain_verify(organization_id=org_id).ok)
    finally:
        _in_own_connection(lambda: AuditEvent.objects.filter(organization_id=org_id).unsafe_delete_for_retention())


def _client(user):
    from rest_framework.test import APIClient

    _, secret = api_key_create(owner=user, name="t", expires_at=None)
    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return c


def test_api_lists_with_cursor_and_filters_for_enterprise():
    org = OrganizationFactory(tier=Tier.ENTERPRISE)
    admin = UserFactory()
    membership(org, admin, "admin")
    c = _client(admin)  # seq 1: its key was created
    assert c.get(f"/api/accounts/{org.pk}/audit_events?limit=1").status_code == 200  # seq 2: key first used
    _record(org, 5, actor=admin)  # seq 3..7
    audit_record(action="praetor.workspace.created", actor=admin, organization_id=org.pk)  # seq 8
    r = c.get(f"/api/accounts/{org.pk}/audit_events?limit=4")
    assert r.status_code == 200
    assert [e["seq"] for e in r.json()["results"]] == [8, 7, 6, 5]
    assert r.json()["results"][0]["cloud_event"] == "prefect-cloud.workspace.created"
    cursor = r.json()["next_cursor"]
    r = c.get(f"/api/accounts/{org.pk}/audit_events?limit=4&cursor={cursor}")
    assert [(e["seq"], e["event"]) for e in r.json()["results"]] == [
        (4, "praetor.team.created"), (3, "praetor.team.created"), (2, "praetor.api_key.first_used"),
        (1, "praetor.api_key.created")]
    assert r.json()["next_cursor"] is None
    r = c.get(f"/api/accounts/{org.pk}/audit_events?event=praetor.workspace.created")
    assert [e["seq"] for e in r.json()["results"]] == [8]
    assert c.get(f"/api/accounts/{org.pk}/audit_events?cursor=zzz").status_code == 422
    assert c.get(f"/api/accounts/{org.pk}/audit_events?bogus=1").status_code == 422


@pytest.mark.parametrize("tier", [Tier.FREE, Tier.STARTER, Tier.GROWTH])
def test_api_is_enterprise_only(tier):
    org = OrganizationFactory(tier=tier)
    owner = UserFactory()
    membership(org, owner, "owner")
    r = _client(owner).get(f"/api/accounts/{org.pk}/audit_events")
    assert r.status_code == 402
    assert r.json()["code"] == "audit_trail_not_included"


def test_api_denies_members_and_strangers():
    org = OrganizationFactory(tier=Tier.ENTERPRISE)
    member = UserFactory()
    membership(org, member, "member")
    assert _client(member).get(f"/api/accounts/{org.pk}/audit_events").status_code == 403
    assert _client(UserFactory()).get(f"/api/accounts/{org.pk}/audit_events").status_code == 404


def test_the_request_context_is_what_from_request_makes_of_each_request():
    """apps/audit/context.py shares one RequestContext per (address, user agent): each request still gets what
    RequestContext.from_request makes of it."""
    from django.test import RequestFactory

    from apps.audit import context
    from apps.audit.services import RequestContext, current_request_context

    factory = RequestFactory()
    requests = [factory.get("/", REMOTE_ADDR=addr, **agent) for addr in ("10.0.0.1", "10.0.0.2", "")
                for agent in ({}, {"HTTP_USER_AGENT": "prefect/2.20"}, {"HTTP_USER_AGENT": "x" * 600})]
    for request in requests * 2:
        token = context.request_context_enter(request)
        try:
            assert current_request_context() == RequestContext.from_request(request)
        finally:
            context.request_context_leave(token)
    assert current_request_context() == RequestContext()
    assert len(context._CONTEXTS) <= context._CONTEXTS_MAX
