"""Teams (CRUD, members) and service accounts ("bots": CRUD, pnb_ keys shown once, rotation, revocation)
through the Cloud-shaped API."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.identity.models import ApiKey
from apps.identity.services import api_key_create
from apps.organizations.models import OrganizationRole, ServiceAccount, Team, TeamMembership, Tier
from apps.organizations.roles import ROLE_BY_KEY
from tests.factories.access import add_to_team
from tests.factories.organizations import (
    OrganizationFactory,
    ServiceAccountFactory,
    TeamFactory,
    new_member,
)

pytestmark = pytest.mark.django_db

OWNER_ID = str(ROLE_BY_KEY[OrganizationRole.OWNER].id)
ADMIN_ID = str(ROLE_BY_KEY[OrganizationRole.ADMIN].id)


def client_for(actor) -> APIClient:
    _, secret = api_key_create(owner=actor, name="t", expires_at=None)
    return bearer(secret)


def bearer(secret) -> APIClient:
    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return c


@pytest.fixture
def org():
    return OrganizationFactory(tier=Tier.GROWTH)


@pytest.fixture
def owner(org):
    return new_member(org, "owner@example.com", "owner")


@pytest.fixture
def admin(org):
    return new_member(org, "admin@example.com", "admin")


@pytest.fixture
def member(org):
    return new_member(org, "member@example.com", "member")


def url(org, rest):
    return f"/api/accounts/{org.pk}{rest}"


def actions(org) -> list[str]:
    rows = AuditEvent.objects.filter(organization_id=org.pk).exclude(action__startswith="praetor.api_key.")
    return list(rows.order_by("seq").values_list("action", flat=True))


# --- teams ---------------------------------------------------------------------------------------------------


def test_team_crud(org, admin, member):
    c = client_for(admin)
    r = c.post(url(org, "/teams/"), {"name": "Data", "description": "Pipelines"}, format="json")
    assert r.status_code == 201
    team = r.json()
    assert {k: team[k] for k in ("name", "description", "account_id", "members")} == {
        "name": "Data", "description": "Pipelines", "account_id": str(org.pk), "members": []}
    tid = team["id"]
    assert [t["name"] for t in client_for(member).get(url(org, "/teams")).json()] == ["Data"]
    r = c.put(url(org, f"/teams/{tid}"), {"name": "Data Eng"}, format="json")
    assert r.status_code == 200 and (r.json()["name"], r.json()["description"]) == ("Data Eng", "Pipelines")
    r = c.patch(url(org, f"/teams/{tid}"), {"description": ""}, format="json")
    assert r.status_code == 200 and r.json()["description"] == ""
    assert c.delete(url(org, f"/teams/{tid}")).status_code == 204
    assert not Team.objects.for_organization(org).exists()
    assert actions(org) == ["praetor.team.created", "praetor.team.updated", "praetor.team.updated",
                            "praetor.team.deleted"]


def test_team_bad_input_and_duplicates(org, admin):
    c = client_for(admin)
    assert c.post(url(org, "/teams/"), {"name": ""}, format="json").status_code == 422
    assert c.post(url(org, "/teams/"), {"name": "x" * 101}, format="json").status_code == 422
    assert c.post(url(org, "/teams/"), {"name": "A", "members": []}, format="json").status_code == 422
    assert c.post(url(org, "/teams/"), ["A"], format="json").status_code == 422
    assert c.post(url(org, "/teams/"), {"name": "Ops"}, format="json").status_code == 201
    r = c.post(url(org, "/teams/"), {"name": "OPS"}, format="json")
    assert r.status_code == 409 and r.json()["code"] == "name_taken"
    r = c.put(url(org, f"/teams/{Team.objects.for_organization(org).get().pk}"), {"description": "no name"},
              format="json")
    assert r.status_code == 422
    assert list(Team.objects.for_organization(org).values_list("name", "description")) == [("Ops", "")]


def test_team_members_set_add_remove(org, admin, member):
    other = new_member(org, "other@example.com", "member")
    team = TeamFactory(organization=org, name="Data")
    c = client_for(admin)
    r = c.put(url(org, f"/teams/{team.pk}/members"),
              {"members": [{"member_id": str(member.pk), "member_type": "user"},
                           {"member_id": str(other.pk), "member_type": "user"}]}, format="json")
    assert r.status_code == 200
    assert [m["email"] for m in r.json()] == ["member@example.com", "other@example.com"]
    r = c.delete(url(org, f"/teams/{team.pk}/members/{other.pk}"))
    assert r.status_code == 204
    r = c.post(url(org, f"/teams/{team.pk}/members"), {"member_id": str(admin.pk)}, format="json")
    assert r.status_code == 201 and [m["email"] for m in r.json()] == ["admin@example.com", "member@example.com"]
    assert [m["email"] for m in c.get(url(org, f"/teams/{team.pk}")).json()["members"]] == [
        "admin@example.com", "member@example.com"]
    assert c.delete(url(org, f"/teams/{team.pk}/members/{other.pk}")).status_code == 404


def test_team_members_must_belong_to_the_organization(org, admin, member):
    stranger = new_member(OrganizationFactory(), "stranger@example.com", "member")
    team = TeamFactory(organization=org)
    add_to_team(team, member)
    r = client_for(admin).put(url(org, f"/teams/{team.pk}/members"),
                              {"members": [{"member_id": str(stranger.pk), "member_type": "user"}]}, format="json")
    assert r.status_code == 404 and r.json()["code"] == "member_not_found"
    r = client_for(admin).put(url(org, f"/teams/{team.pk}/members"),
                              {"members": [{"member_id": str(member.pk), "member_type": "bot"}]}, format="json")
    assert r.status_code == 422
    assert list(TeamMembership.objects.filter(team=team).values_list("user_id", flat=True)) == [member.pk]


def test_team_writes_need_manage(org, member):
    team = TeamFactory(organization=org, name="Data")
    c = client_for(member)
    for method, path, payload in (("post", "/teams/", {"name": "X"}), ("put", f"/teams/{team.pk}", {"name": "X"}),
                                  ("delete", f"/teams/{team.pk}", None),
                                  ("put", f"/teams/{team.pk}/members", {"members": []})):
        r = getattr(c, method)(url(org, path), payload, format="json")
        assert r.status_code == 403 and r.json()["permission"] == "organization:manage", (method, path)
    assert list(Team.objects.for_organization(org).values_list("name", flat=True)) == ["Data"]


def test_teams_list_counts_queries(org, admin, django_assert_num_queries):
    for n in range(4):
        team = TeamFactory(organization=org)
        add_to_team(team, new_member(org, f"u{n}@example.com", "member"))
    c = client_for(admin)
    c.get(url(org, "/teams/"))
    # (key from the auth cache) membership, organization, teams, their members (one query for all)
    with django_assert_num_queries(4):
        r = c.get(url(org, "/teams/"))
    assert [len(t["members"]) for t in r.json()] == [1, 1, 1, 1]


def test_teams_filter_by_name(org, member):
    TeamFactory(organization=org, name="Data")
    TeamFactory(organization=org, name="Ops")
    r = client_for(member).post(url(org, "/teams/filter"), {"teams": {"name": {"any_": ["Ops"]}}}, format="json")
    assert [t["name"] for t in r.json()] == ["Ops"]


def test_team_of_another_organization_is_404(org, admin):
    foreign = TeamFactory(organization=OrganizationFactory(), name="Theirs")
    c = client_for(admin)
    assert c.get(url(org, f"/teams/{foreign.pk}")).status_code == 404
    assert c.put(url(org, f"/teams/{foreign.pk}"), {"name": "Mine"}, format="json").status_code == 404
    assert c.delete(url(org, f"/teams/{foreign.pk}")).status_code == 404
    foreign.refresh_from_db()
    assert foreign.name == "Theirs"


# --- service accounts ----------------------------------------------------------------------------------------


def test_bot_create_shows_its_pnb_key_once(org, admin):
    c = client_for(admin)
    expiry = (timezone.now() + timedelta(days=30)).replace(microsecond=0)
    r = c.post(url(org, "/bots/"), {"name": "ci", "api_key_expiration": expiry.isoformat()}, format="json")
    assert r.status_code == 201
    bot = r.json()
    assert (bot["name"], bot["account_role_name"], bot["account_id"]) == ("ci", "Member", str(org.pk))
    secret = bot["api_key"]["key"]
    assert secret.startswith("pnb_") and len(secret) == 40
    assert bot["api_key"]["expiration"].startswith(expiry.strftime("%Y-%m-%dT%H:%M:%S"))
    assert bearer(secret).get("/api/me/").json()["actor_type"] == "service_account"
    listed = c.get(url(org, "/bots/")).json()
    assert [(b["id"], b["api_key"]["key"]) for b in listed] == [(bot["id"], None)]
    assert c.get(url(org, f"/bots/{bot['id']}")).json()["api_key"]["prefix"] == secret[:16]
    assert ApiKey.objects.get(service_account_id=bot["id"]).digest != secret


def test_bot_update_and_delete(org, owner, admin):
    c = client_for(admin)
    bot = c.post(url(org, "/bots/"), {"name": "ci"}, format="json").json()
    secret = bot["api_key"]["key"]
    r = c.patch(url(org, f"/bots/{bot['id']}"), {"name": "deployer", "account_role_id": ADMIN_ID}, format="json")
    assert r.status_code == 200 and (r.json()["name"], r.json()["account_role_name"]) == ("deployer", "Admin")
    r = c.patch(url(org, f"/bots/{bot['id']}"), {"account_role_id": OWNER_ID}, format="json")
    assert r.status_code == 403 and r.json()["permission"] == "organization:own"
    assert c.delete(url(org, f"/bots/{bot['id']}")).status_code == 204
    assert not ServiceAccount.objects.for_organization(org).exists()
    assert bearer(secret).get("/api/me/").status_code == 401
    assert actions(org) == ["praetor.service_account.created", "praetor.service_account.updated",
                            "praetor.service_account.deleted"]


def test_bot_bad_input_changes_nothing(org, admin):
    c = client_for(admin)
    past = (timezone.now() - timedelta(days=1)).isoformat()
    assert c.post(url(org, "/bots/"), {"name": "ci", "api_key_expiration": past}, format="json").status_code == 422
    assert c.post(url(org, "/bots/"), {"name": "ci", "account_role_id": "nope"}, format="json").status_code == 422
    assert c.post(url(org, "/bots/"), {"name": "ci", "scopes": []}, format="json").status_code == 422
    assert not ServiceAccount.objects.for_organization(org).exists()
    assert not ApiKey.objects.filter(service_account__isnull=False).exists()
    assert c.post(url(org, "/bots/"), {"name": "ci"}, format="json").status_code == 201
    r = c.post(url(org, "/bots/"), {"name": "CI"}, format="json")
    assert r.status_code == 409 and r.json()["code"] == "name_taken"


def test_bot_keys_list_create_revoke(org, admin):
    c = client_for(admin)
    bot = c.post(url(org, "/bots/"), {"name": "ci"}, format="json").json()
    first = bot["api_key"]["key"]
    r = c.post(url(org, f"/bots/{bot['id']}/api_keys"), {"name": "second"}, format="json")
    assert r.status_code == 201
    second = r.json()
    assert second["key"].startswith("pnb_")
    keys = c.get(url(org, f"/bots/{bot['id']}/api_keys")).json()
    assert [(k["name"], k["key"], k["revoked"]) for k in keys] == [("second", None, None), ("ci", None, None)]
    assert c.delete(url(org, f"/bots/{bot['id']}/api_keys/{bot['api_key']['id']}")).status_code == 204
    assert bearer(first).get("/api/me/").status_code == 401
    assert bearer(second["key"]).get("/api/me/").status_code == 200
    assert c.get(url(org, f"/bots/{bot['id']}/api_keys")).json()[1]["revoked"] is not None
    assert c.delete(url(org, f"/bots/{bot['id']}/api_keys/not-a-uuid")).status_code == 404


def test_bot_key_of_another_bot_is_404(org, admin):
    c = client_for(admin)
    one = c.post(url(org, "/bots/"), {"name": "one"}, format="json").json()
    two = c.post(url(org, "/bots/"), {"name": "two"}, format="json").json()
    r = c.delete(url(org, f"/bots/{one['id']}/api_keys/{two['api_key']['id']}"))
    assert r.status_code == 404
    assert bearer(two["api_key"]["key"]).get("/api/me/").status_code == 200


def test_bot_rotate_key_with_grace(org, admin):
    c = client_for(admin)
    bot = c.post(url(org, "/bots/"), {"name": "ci"}, format="json").json()
    old = bot["api_key"]["key"]
    r = c.post(url(org, f"/bots/{bot['id']}/rotate_api_key"), {"old_key_expires_in_seconds": 3600}, format="json")
    assert r.status_code == 201
    new = r.json()["api_key"]["key"]
    assert new != old and new.startswith("pnb_")
    assert bearer(old).get("/api/me/").status_code == 200  # still in its grace period
    old_row = ApiKey.objects.get(pk=bot["api_key"]["id"])
    assert timedelta(minutes=59) < old_row.expires_at - timezone.now() <= timedelta(hours=1)
    r = c.post(url(org, f"/bots/{bot['id']}/rotate_api_key"), {}, format="json")
    assert bearer(new).get("/api/me/").status_code == 401  # rotated at once
    assert c.post(url(org, f"/bots/{bot['id']}/rotate_api_key"), {"old_key_expires_in_seconds": -1},
                  format="json").status_code == 422


def test_bot_writes_need_manage_and_reads_need_membership(org, member):
    bot = ServiceAccountFactory(organization=org, name="ci")
    c = client_for(member)
    assert c.get(url(org, "/bots/")).status_code == 200
    for method, path in (("post", "/bots/"), ("patch", f"/bots/{bot.pk}"), ("delete", f"/bots/{bot.pk}"),
                         ("post", f"/bots/{bot.pk}/rotate_api_key"), ("get", f"/bots/{bot.pk}/api_keys"),
                         ("post", f"/bots/{bot.pk}/api_keys")):
        r = getattr(c, method)(url(org, path), {"name": "x"}, format="json")
        assert r.status_code == 403 and r.json()["permission"] == "organization:manage", (method, path)
    assert list(ServiceAccount.objects.for_organization(org).values_list("name", flat=True)) == ["ci"]


def test_bot_of_another_organization_is_404(org, admin):
    foreign = ServiceAccountFactory(organization=OrganizationFactory(), name="theirs")
    c = client_for(admin)
    for method, path in (("get", f"/bots/{foreign.pk}"), ("patch", f"/bots/{foreign.pk}"),
                         ("delete", f"/bots/{foreign.pk}"), ("post", f"/bots/{foreign.pk}/rotate_api_key"),
                         ("get", f"/bots/{foreign.pk}/api_keys")):
        r = getattr(c, method)(url(org, path), {"name": "x"}, format="json")
        assert r.status_code == 404 and r.json()["detail"] == "Service account not found.", (method, path)
    assert ServiceAccount.all_organizations.get(pk=foreign.pk).name == "theirs"


def test_a_service_account_key_manages_as_its_role(org):
    admin_bot = ServiceAccountFactory(organization=org, role="admin")
    member_bot = ServiceAccountFactory(organization=org, role="member")
    assert client_for(admin_bot).post(url(org, "/teams/"), {"name": "Made by bot"}, format="json").status_code == 201
    r = client_for(member_bot).post(url(org, "/teams/"), {"name": "Nope"}, format="json")
    assert r.status_code == 403
    other = OrganizationFactory()
    assert client_for(admin_bot).get(f"/api/accounts/{other.pk}/teams/").status_code == 404


def test_wrong_content_type_and_malformed_json_change_nothing(org, admin):
    c = client_for(admin)
    r = c.post(url(org, "/teams/"), "name=Data", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 415 and r.json()["code"] == "unsupported_media_type"
    r = c.post(url(org, "/teams/"), '{"name": "Data"', content_type="application/json")
    assert r.status_code == 400 and r.json()["code"] == "parse_error"
    assert not Team.objects.for_organization(org).exists()
