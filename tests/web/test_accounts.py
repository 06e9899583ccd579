"""Sign-up with mandatory email verification, sign-in, sign-out and password reset, through allauth's views
rendered by our templates."""

import re

import pytest
from django.core import mail

from apps.identity.models import User

pytestmark = pytest.mark.django_db

LINK = re.compile(r"http://testserver(/accounts/[^\s]+)")


def _link_in_last_mail() -> str:
    return LINK.search(mail.outbox[-1].body).group(1)


def test_anonymous_home_redirects_to_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"


def test_sign_up_requires_email_confirmation_then_leads_to_onboarding(client):
    page = client.get("/accounts/signup/")
    assert page.status_code == 200
    html = page.content.decode()
    assert '<label for="id_email">Email' in html
    assert '<label for="id_password1">Password' in html

    response = client.post("/accounts/signup/", {
        "email": "new@example.com", "password1": "a-long-passphrase-1", "password2": "a-long-passphrase-1",
    })
    assert response.status_code == 302
    assert response["Location"] == "/accounts/confirm-email/"
    assert User.objects.filter(email="new@example.com").count() == 1
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["new@example.com"]
    # Not signed in until the address is confirmed.
    assert client.get("/")["Location"] == "/accounts/login/?next=/"

    link = _link_in_last_mail()
    confirm_page = client.get(link)
    assert confirm_page.status_code == 200
    assert "Confirm that <strong>new@example.com</strong> is your email address." in confirm_page.content.decode()
    confirmed = client.post(link)
    assert confirmed.status_code == 302
    home = client.get(confirmed["Location"])
    assert home.status_code == 302
    assert home["Location"] == "/onboarding/"


def test_sign_up_with_mismatched_passwords_shows_the_error_on_the_field(client):
    response = client.post("/accounts/signup/", {
        "email": "new@example.com", "password1": "a-long-passphrase-1", "password2": "another-passphrase-2",
    })
    assert response.status_code == 200
    html = response.content.decode()
    assert 'aria-invalid="true"' in html
    assert "You must type the same password each time." in html
    assert User.objects.filter(email="new@example.com").count() == 0
    assert mail.outbox == []


def test_sign_in_with_unverified_email_resends_verification(client, user):
    response = client.post("/accounts/login/", {"login": user.email, "password": "correct horse battery"})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/confirm-email/"
    assert len(mail.outbox) == 1


def test_sign_in_and_out(client, user):
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    bad = client.post("/accounts/login/", {"login": user.email, "password": "wrong"})
    assert bad.status_code == 200
    assert "The email address and/or password you specified are not correct." in bad.content.decode()

    good = client.post("/accounts/login/", {"login": user.email, "password": "correct horse battery"})
    assert good.status_code == 302
    assert good["Location"] == "/"
    assert client.get("/")["Location"] == "/onboarding/"

    out = client.post("/accounts/logout/")
    assert out.status_code == 302
    assert client.get("/")["Location"] == "/accounts/login/?next=/"


def test_password_reset_end_to_end(client, user):
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    response = client.post("/accounts/password/reset/", {"email": user.email})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/password/reset/done/"
    link = _link_in_last_mail()
    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200
    assert "Choose a new password" in form_page.content.decode()
    action = form_page.redirect_chain[-1][0] if form_page.redirect_chain else link
    done = client.post(action, {"password1": "brand-new-passphrase-9", "password2": "brand-new-passphrase-9"})
    assert done.status_code == 302
    assert done["Location"] == "/accounts/password/reset/key/done/"
    user.refresh_from_db()
    assert user.check_password("brand-new-passphrase-9")
    # The link works once.
    again = client.get(link, follow=True)
    assert "This link does not work" in again.content.decode()
