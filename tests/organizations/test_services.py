from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from apps.core.errors import Conflict, Invalid, NotFound, PermissionDenied
from apps.identity.models import ApiKey
from apps.identity.services import api_key_authenticate
from apps.organizations import services
from apps.organizations.models import Invitation, Membership, Organization, ServiceAccount, Team, TeamMembership
from apps.organizations.selectors import invitation_get_by_token, service_account_current_key, team_list
from tests.factories.identity import UserFactory
from tests.factories.organizations import OrganizationFactory, ServiceAccountFactory, TeamFactory, membership

pytestmark = pytest.mark.django_db


@pytest.fixture
def org():
    return OrganizationFactory(name="Acme", handle="acme")


@pytest.fixture
def owner(org):
    user = UserFactory(email="owner@example.com")
    membership(org, user, "owner")
    return user


@pytest.fixture
def admin(org):
    user = UserFactory(email="admin@example.com")
    membership(org, user, "admin")
    return user


@pytest.fixture
def member(org):
    user = UserFactory(email="member@example.com")
    membership(org, user, "member")
    return user


def _role(org, user):
    return Membership.objects.for_organization(org).get(user=user).role


# --- organizations ---


def test_organization_update_renames_and_changes_handle(org, admin):
    services.organization_update(organization=org, actor=admin, name="Acme Inc", handle="acme-inc")
    org.refresh_from_db()
    assert (org.name, org.handle) == ("Acme Inc", "acme-inc")


def test_organization_update_refuses_taken_handle_and_changes_nothing(org, owner):
    OrganizationFactory(handle="taken")
    with pytest.raises(Conflict) as err:
        services.organization_update(organization=org, actor=owner, name="New", handle="taken")
    assert err.value.code == "handle_taken"
    org.refresh_from_db()
    assert (org.name, org.handle) == ("Acme", "acme")


def test_member_cannot_update_organization(org, member):
    with pytest.raises(PermissionDenied):
        services.organization_update(organization=org, actor=member, name="Hacked")
    org.refresh_from_db()
    assert org.name == "Acme"


def test_only_owner_deletes_organization(org, owner, admin):
    with pytest.raises(PermissionDenied):
        services.organization_delete(organization=org, actor=admin)
    assert Organization.objects.filter(pk=org.pk).exists()
    services.organization_delete(organization=org, actor=owner)
    assert not Organization.objects.filter(pk=org.pk).exists()
    assert Membership.all_organizations.filter(organization_id=org.pk).count() == 0


def test_non_member_is_not_found(org):
    stranger = UserFactory()
    with pytest.raises(NotFound):
        services.organization_update(organization=org, actor=stranger, name="x")


# --- memberships ---


def test_admin_changes_member_role(org, admin, member):
    m = Membership.objects.for_organization(org).get(user=member)
    services.membership_update_role(membership=m, role="admin", actor=admin)
    assert _role(org, member) == "admin"


def test_admin_cannot_grant_owner(org, owner, admin, member):
    m = Membership.objects.for_organization(org).get(user=member)
    with pytest.raises(PermissionDenied):
        services.membership_update_role(membership=m, role="owner", actor=admin)
    assert _role(org, member) == "member"


def test_admin_cannot_demote_owner(org, owner, admin):
    m = Membership.objects.for_organization(org).get(user=owner)
    with pytest.raises(PermissionDenied):
        services.membership_update_role(membership=m, role="member", actor=admin)
    assert _role(org, owner) == "owner"


def test_last_owner_cannot_be_demoted(org, owner):
    m = Membership.objects.for_organization(org).get(user=owner)
    with pytest.raises(Conflict) as err:
        services.membership_update_role(membership=m, role="admin", actor=owner)
    assert err.value.code == "last_owner"
    assert _role(org, owner) == "owner"


def test_owner_can_hand_over_ownership(org, owner, member):
    services.membership_update_role(
        membership=Membership.objects.for_organization(org).get(user=member), role="owner", actor=owner)
    services.membership_update_role(
        membership=Membership.objects.for_organization(org).get(user=owner), role="member", actor=owner)
    assert (_role(org, owner), _role(org, member)) == ("member", "owner")


def test_unknown_role_is_invalid(org, owner, member):
    with pytest.raises(Invalid):
        services.membership_update_role(
            membership=Membership.objects.for_organization(org).get(user=member), role="god", actor=owner)
    assert _role(org, member) == "member"


def test_membership_remove_and_team_cleanup(org, admin, member):
    team = TeamFactory(organization=org)
    TeamMembership.objects.create(team=team, user=member)
    services.membership_remove(membership=Membership.objects.for_organization(org).get(user=member), actor=admin)
    assert not Membership.objects.for_organization(org).filter(user=member).exists()
    assert TeamMembership.objects.filter(team=team).count() == 0


def test_member_cannot_remove_others_but_can_leave(org, admin, member):
    with pytest.raises(PermissionDenied):
        services.membership_remove(membership=Membership.objects.for_organization(org).get(user=admin), actor=member)
    assert _role(org, admin) == "admin"
    services.membership_remove(membership=Membership.objects.for_organization(org).get(user=member), actor=member)
    assert not Membership.objects.for_organization(org).filter(user=member).exists()


def test_last_owner_cannot_leave_and_admin_cannot_remove_owner(org, owner, admin):
    with pytest.raises(Conflict):
        services.membership_remove(membership=Membership.objects.for_organization(org).get(user=owner), actor=owner)
    with pytest.raises(PermissionDenied):
        services.membership_remove(membership=Membership.objects.for_organization(org).get(user=owner), actor=admin)
    assert _role(org, owner) == "owner"


# --- invitations ---


def _invite(org, actor, email="new@example.com", role="member", *, capture):
    with capture(execute=True):
        return services.invitation_create(organization=org, email=email, role=role, actor=actor)


def test_invitation_create_mails_the_absolute_link(org, admin, settings, django_capture_on_commit_callbacks):
    settings.SITE_URL = "https://praetor.example.com"
    invitation, token = _invite(org, admin, "New@Example.com", capture=django_capture_on_commit_callbacks)
    assert invitation.email == "new@example.com"
    assert invitation.status == "pending"
    assert invitation.token_digest != token and token not in invitation.token_digest
    assert abs((invitation.expires_at - timezone.now()) - timedelta(days=7)) < timedelta(minutes=1)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["new@example.com"]
    assert f"https://praetor.example.com/invitations/{token}" in mail.outbox[0].body
    assert invitation_get_by_token(token=token).pk == invitation.pk


def test_invitation_ttl_setting(org, admin, settings, django_capture_on_commit_callbacks):
    settings.PRAETOR_INVITATION_TTL_DAYS = 2
    invitation, _ = _invite(org, admin, capture=django_capture_on_commit_callbacks)
    assert abs((invitation.expires_at - timezone.now()) - timedelta(days=2)) < timedelta(minutes=1)


def test_invitation_refuses_members_duplicates_and_owner_by_admin(org, admin, member,
                                                                  django_capture_on_commit_callbacks):
    with pytest.raises(Conflict):
        _invite(org, admin, "MEMBER@example.com", capture=django_capture_on_commit_callbacks)
    _invite(org, admin, capture=django_capture_on_commit_callbacks)
    with pytest.raises(Conflict):
        _invite(org, admin, capture=django_capture_on_commit_callbacks)
    with pytest.raises(PermissionDenied):
        _invite(org, admin, "boss@example.com", "owner", capture=django_capture_on_commit_callbacks)
    with pytest.raises(PermissionDenied):
        _invite(org, member, "x@example.com", capture=django_capture_on_commit_callbacks)
    assert Invitation.objects.for_organization(org).count() == 1
    assert len(mail.outbox) == 1


def test_invitation_accept_matches_email_case_insensitively(org, admin, django_capture_on_commit_callbacks):
    invitation, token = _invite(org, admin, "Newbie@Example.com", "admin", capture=django_capture_on_commit_callbacks)
    invitee = UserFactory(email="newbie@example.com")
    m = services.invitation_accept(token=token, user=invitee)
    assert (m.organization_id, m.user_id, m.role) == (org.pk, invitee.pk, "admin")
    invitation.refresh_from_db()
    assert invitation.status == "accepted" and invitation.responded_at is not None
    with pytest.raises(Conflict) as err:
        services.invitation_accept(token=token, user=invitee)
    assert err.value.code == "invitation_not_pending"


def test_invitation_accept_by_other_user_is_refused(org, admin, django_capture_on_commit_callbacks):
    invitation, token = _invite(org, admin, capture=django_capture_on_commit_callbacks)
    other = UserFactory(email="other@example.com")
    with pytest.raises(PermissionDenied) as err:
        services.invitation_accept(token=token, user=other)
    assert err.value.code == "invitation_wrong_user"
    invitation.refresh_from_db()
    assert invitation.status == "pending"
    assert not Membership.objects.for_organization(org).filter(user=other).exists()


def test_expired_revoked_and_unknown_invitations_are_refused(org, admin, django_capture_on_commit_callbacks):
    invitee = UserFactory(email="new@example.com")
    invitation, token = _invite(org, admin, capture=django_capture_on_commit_callbacks)
    Invitation.objects.for_organization(org).filter(pk=invitation.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(Conflict) as err:
        services.invitation_accept(token=token, user=invitee)
    assert err.value.code == "invitation_expired"
    # An expired invitation gives way to a new one.
    invitation2, token2 = _invite(org, admin, capture=django_capture_on_commit_callbacks)
    invitation.refresh_from_db()
    assert invitation.status == "revoked"
    services.invitation_revoke(invitation=invitation2, actor=admin)
    with pytest.raises(Conflict) as err:
        services.invitation_accept(token=token2, user=invitee)
    assert err.value.code == "invitation_not_pending"
    with pytest.raises(NotFound):
        services.invitation_accept(token="nope", user=invitee)
    assert not Membership.objects.for_organization(org).filter(user=invitee).exists()


def test_invitation_decline(org, admin, django_capture_on_commit_callbacks):
    invitation, token = _invite(org, admin, capture=django_capture_on_commit_callbacks)
    invitee = UserFactory(email="new@example.com")
    services.invitation_decline(token=token, user=invitee)
    invitation.refresh_from_db()
    assert invitation.status == "declined"
    assert not Membership.objects.for_organization(org).filter(user=invitee).exists()


def test_member_cannot_revoke_invitation(org, admin, member, django_capture_on_commit_callbacks):
    invitation, _ = _invite(org, admin, capture=django_capture_on_commit_callbacks)
    with pytest.raises(PermissionDenied):
        services.invitation_revoke(invitation=invitation, actor=member)
    invitation.refresh_from_db()
    assert invitation.status == "pending"


# --- teams ---


def test_team_lifecycle(org, admin, member):
    team = services.team_create(organization=org, name="Data", description="the data team", actor=admin,
                                member_ids=[member.pk])
    assert list(team.members.all()) == [member]
    with pytest.raises(Conflict):
        services.team_create(organization=org, name="DATA", actor=admin)
    services.team_update(team=team, name="Data Eng", description="", actor=admin)
    team.refresh_from_db()
    assert (team.name, team.description) == ("Data Eng", "")
    assert services.team_set_members(team=team, user_ids=[admin.pk, str(member.pk)], actor=admin) == [admin.pk,
                                                                                                        member.pk]
    services.team_remove_member(team=team, user_id=member.pk, actor=admin)
    assert list(team.members.all()) == [admin]
    services.team_add_member(team=team, user_id=member.pk, actor=admin)
    services.team_add_member(team=team, user_id=member.pk, actor=admin)
    assert TeamMembership.objects.filter(team=team).count() == 2
    services.team_delete(team=team, actor=admin)
    assert Team.objects.for_organization(org).count() == 0
    assert Membership.objects.for_organization(org).count() == 2


def test_team_members_must_belong_to_the_organization(org, admin, member):
    team = services.team_create(organization=org, name="Ops", actor=admin, member_ids=[member.pk])
    outsider = UserFactory()
    membership(OrganizationFactory(), outsider, "owner")
    for ids in ([outsider.pk], [member.pk, outsider.pk], ["not-a-uuid"]):
        with pytest.raises(NotFound):
            services.team_set_members(team=team, user_ids=ids, actor=admin)
    with pytest.raises(NotFound):
        services.team_add_member(team=team, user_id=outsider.pk, actor=admin)
    with pytest.raises(NotFound):
        services.team_create(organization=org, name="Other", actor=admin, member_ids=[outsider.pk])
    assert list(team.members.all()) == [member]
    assert Team.objects.for_organization(org).count() == 1


def test_member_cannot_manage_teams(org, member):
    with pytest.raises(PermissionDenied):
        services.team_create(organization=org, name="x", actor=member)
    assert Team.objects.for_organization(org).count() == 0


def test_team_list_batches_members(org, admin, member, django_assert_num_queries):
    for n in range(3):
        services.team_create(organization=org, name=f"T{n}", actor=admin, member_ids=[admin.pk, member.pk])
    with django_assert_num_queries(2):
        teams = list(team_list(organization=org))
        assert [[u.email for u in t.members.all()] for t in teams] == [["admin@example.com", "member@example.com"]] * 3


# --- service accounts ---


def test_service_account_create_with_and_without_key(org, admin):
    bot, key, secret = services.service_account_create(organization=org, name="ci", actor=admin)
    assert secret.startswith("pnb_") and key.service_account_id == bot.pk
    assert api_key_authenticate(secret).service_account_id == bot.pk
    bot2, key2, secret2 = services.service_account_create(organization=org, name="nokey", actor=admin,
                                                          with_api_key=False)
    assert (key2, secret2) == (None, None)
    assert ApiKey.objects.filter(service_account=bot2).count() == 0
    with pytest.raises(Conflict):
        services.service_account_create(organization=org, name="CI", actor=admin)
    with pytest.raises(PermissionDenied):
        services.service_account_create(organization=org, name="root", role="owner", actor=admin)
    assert ServiceAccount.objects.for_organization(org).count() == 2


def test_service_account_update_and_delete(org, admin, member):
    bot, _, secret = services.service_account_create(organization=org, name="ci", actor=admin)
    with pytest.raises(PermissionDenied):
        services.service_account_update(service_account=bot, name="x", actor=member)
    services.service_account_update(service_account=bot, name="deployer", role="admin", actor=admin)
    bot.refresh_from_db()
    assert (bot.name, bot.role) == ("deployer", "admin")
    services.service_account_delete(service_account=bot, actor=admin)
    assert ServiceAccount.objects.for_organization(org).count() == 0
    with pytest.raises(NotFound):
        api_key_authenticate(secret)


def test_rotate_key_revokes_old_key_at_once(org, admin):
    bot, old, old_secret = services.service_account_create(organization=org, name="ci", actor=admin)
    new, new_secret = services.service_account_rotate_key(service_account=bot, actor=admin)
    assert api_key_authenticate(new_secret).pk == new.pk
    with pytest.raises(NotFound):
        api_key_authenticate(old_secret)
    assert service_account_current_key(bot).pk == new.pk


def test_rotate_key_with_grace_period(org, admin):
    bot, old, old_secret = services.service_account_create(organization=org, name="ci", actor=admin)
    before = timezone.now()
    new, new_secret = services.service_account_rotate_key(service_account=bot, actor=admin,
                                                          old_key_expires_in_seconds=600)
    old.refresh_from_db()
    assert old.revoked_at is None
    assert before + timedelta(seconds=599) < old.expires_at <= timezone.now() + timedelta(seconds=600)
    assert api_key_authenticate(old_secret).pk == old.pk
    assert api_key_authenticate(new_secret).pk == new.pk
    with pytest.raises(Invalid):
        services.service_account_rotate_key(service_account=bot, actor=admin, old_key_expires_in_seconds=-1)
    assert ApiKey.objects.filter(service_account=bot).count() == 2


def test_member_cannot_rotate(org, member):
    bot = ServiceAccountFactory(organization=org)
    with pytest.raises(PermissionDenied):
        services.service_account_rotate_key(service_account=bot, actor=member)
    assert ApiKey.objects.filter(service_account=bot).count() == 0
