"""Teams pages (create, edit, delete, add and remove members) and service account pages (create with the first
key shown once, edit, more keys, revoke, delete), with the role rules and other organizations' objects → 404."""

import re

import pytest

from apps.identity.models import ApiKey
from apps.organizations.models import ServiceAccount, Team, TeamMembership, Tier
from tests.factories.access import add_to_team
from tests.factories.identity import UserFactory
from tests.factories.organizations import OrganizationFactory, ServiceAccountFactory, TeamFactory, membership

pytestmark = pytest.mark.django_db


@pytest.fixture
def org():
    return OrganizationFactory(name="Acme", handle="acme", tier=Tier.GROWTH)


def _user(org, email, role):
    user = UserFactory(email=email)
    membership(org, user, role)
    return user


@pytest.fixture
def admin(org):
    return _user(org, "admin@example.com", "admin")


@pytest.fixture
def member(org):
    return _user(org, "member@example.com", "member")


# --- teams -------------------------------------------------------------------------------------------------------


def test_admin_creates_edits_and_deletes_a_team(client, org, admin, member):
    client.force_login(admin)
    response = client.post("/acme/-/teams/", {"name": "Data", "description": "Pipelines"})
    team = Team.objects.for_organization(org).get()
    assert response.status_code == 302 and response["Location"] == f"/acme/-/teams/{team.pk}/"
    html = client.get(f"/acme/-/teams/{team.pk}/").content.decode()
    assert "<h1>Team Data</h1>" in html and '<label for="add-member">Add a member</label>' in html
    client.post(f"/acme/-/teams/{team.pk}/members/add", {"user": str(member.pk)})
    assert list(TeamMembership.objects.filter(team=team).values_list("user_id", flat=True)) == [member.pk]
    html = client.get("/acme/-/teams/").content.decode()
    assert f'<a href="/acme/-/teams/{team.pk}/">Data</a>' in html
    response = client.post(f"/acme/-/teams/{team.pk}/", {"name": "Data Eng", "description": ""}, follow=True)
    assert "Team Data Eng saved." in response.content.decode()
    team.refresh_from_db()
    assert (team.name, team.description) == ("Data Eng", "")
    client.post(f"/acme/-/teams/{team.pk}/members/{member.pk}/remove")
    assert not TeamMembership.objects.filter(team=team).exists()
    response = client.post(f"/acme/-/teams/{team.pk}/delete", follow=True)
    assert "Team Data Eng deleted." in response.content.decode()
    assert not Team.objects.for_organization(org).exists()


def test_team_form_errors(client, org, admin):
    TeamFactory(organization=org, name="Ops")
    client.force_login(admin)
    response = client.post("/acme/-/teams/", {"name": "ops"})
    assert response.status_code == 409 and "A team named &#x27;ops&#x27; already exists." in response.content.decode()
    response = client.post("/acme/-/teams/", {"name": ""})
    assert response.status_code == 400 and 'aria-invalid="true"' in response.content.decode()
    assert Team.objects.for_organization(org).count() == 1


def test_members_see_teams_but_cannot_change_them(client, org, member):
    team = TeamFactory(organization=org, name="Data")
    add_to_team(team, member)
    client.force_login(member)
    html = client.get(f"/acme/-/teams/{team.pk}/").content.decode()
    assert "member@example.com" in html and "Delete team" not in html and "Add a member" not in html
    assert client.post("/acme/-/teams/", {"name": "X"}).status_code == 403
    assert client.post(f"/acme/-/teams/{team.pk}/delete").status_code == 403
    assert client.post(f"/acme/-/teams/{team.pk}/members/{member.pk}/remove").status_code == 403
    assert Team.objects.for_organization(org).count() == 1 and TeamMembership.objects.filter(team=team).exists()


def test_teams_and_users_of_another_organization(client, org, admin):
    foreign = TeamFactory(organization=OrganizationFactory(), name="Theirs")
    stranger = UserFactory()
    team = TeamFactory(organization=org, name="Data")
    client.force_login(admin)
    assert client.get(f"/acme/-/teams/{foreign.pk}/").status_code == 404
    assert client.post(f"/acme/-/teams/{foreign.pk}/delete").status_code == 404
    response = client.post(f"/acme/-/teams/{team.pk}/members/add", {"user": str(stranger.pk)}, follow=True)
    assert "Choose a member of the organization to add." in response.content.decode()
    assert not TeamMembership.objects.filter(team=team).exists()
    assert Team.all_organizations.filter(pk=foreign.pk).exists()


# --- service accounts --------------------------------------------------------------------------------------------


def _secret(html) -> str:
    return re.search(r'id="new-key-secret" class="mono" type="text" readonly value="(pnb_[A-Za-z0-9]+)"', html).group(1)


def test_admin_creates_a_service_account_and_sees_its_key_once(client, org, admin):
    client.force_login(admin)
    response = client.post("/acme/-/service-accounts/", {"name": "ci", "role": "member", "expires_on": ""})
    assert response.status_code == 200
    secret = _secret(response.content.decode())
    bot = ServiceAccount.objects.for_organization(org).get()
    assert (bot.name, bot.role) == ("ci", "member")
    key = ApiKey.objects.get(service_account=bot)
    assert secret.startswith(key.display_prefix) and key.digest != secret
    assert secret not in client.get(f"/acme/-/service-accounts/{bot.pk}/").content.decode()
    assert secret not in client.get("/acme/-/service-accounts/").content.decode()
    api = client.__class__()
    assert api.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {secret}").json()["actor_type"] == "service_account"


def test_service_account_keys_edit_and_delete(client, org, admin):
    bot = ServiceAccountFactory(organization=org, name="ci")
    client.force_login(admin)
    response = client.post(f"/acme/-/service-accounts/{bot.pk}/keys", {"key-name": "second", "key-expires_on": ""})
    assert response.status_code == 200
    secret = _secret(response.content.decode())
    key = ApiKey.objects.get(service_account=bot)
    response = client.post(f"/acme/-/service-accounts/{bot.pk}/keys/{key.pk}/revoke", follow=True)
    assert "The key “second” is revoked" in response.content.decode()
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert client.__class__().get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401
    response = client.post(f"/acme/-/service-accounts/{bot.pk}/", {"name": "deployer", "role": "admin"})
    assert response.status_code == 302
    bot.refresh_from_db()
    assert (bot.name, bot.role) == ("deployer", "admin")
    response = client.post(f"/acme/-/service-accounts/{bot.pk}/delete", follow=True)
    assert "Service account deployer deleted" in response.content.decode()
    assert not ServiceAccount.objects.for_organization(org).exists()


def test_service_account_rules(client, org, admin, member):
    bot = ServiceAccountFactory(organization=org, name="ci")
    ServiceAccountFactory(organization=org, name="taken")
    client.force_login(admin)
    response = client.post("/acme/-/service-accounts/", {"name": "x", "role": "owner"})
    assert response.status_code == 400 and "Select a valid choice." in response.content.decode()
    response = client.post(f"/acme/-/service-accounts/{bot.pk}/", {"name": "TAKEN", "role": "member"})
    assert response.status_code == 409 and "already exists" in response.content.decode()
    client.force_login(member)
    html = client.get(f"/acme/-/service-accounts/{bot.pk}/").content.decode()
    assert "Delete service account" not in html and "Create a key" not in html
    assert client.post(f"/acme/-/service-accounts/{bot.pk}/delete").status_code == 403
    assert client.post(f"/acme/-/service-accounts/{bot.pk}/keys", {"key-name": "x"}).status_code == 403
    bot.refresh_from_db()
    assert bot.name == "ci" and not ApiKey.objects.filter(service_account=bot).exists()


def test_service_accounts_of_another_organization_are_404(client, org, admin):
    foreign = ServiceAccountFactory(organization=OrganizationFactory(), name="theirs")
    client.force_login(admin)
    assert client.get(f"/acme/-/service-accounts/{foreign.pk}/").status_code == 404
    assert client.post(f"/acme/-/service-accounts/{foreign.pk}/delete").status_code == 404
    assert client.post(f"/acme/-/service-accounts/{foreign.pk}/keys", {"key-name": "x"}).status_code == 404
    assert ServiceAccount.all_organizations.filter(pk=foreign.pk).exists()
    assert not ApiKey.objects.filter(service_account=foreign).exists()
