"""In a real browser: sign up → confirm the email → onboarding → the workspace; sign out and in; password
reset; the same pages by keyboard alone and at phone width."""

import re

import pytest
from allauth.account.models import EmailAddress
from playwright.sync_api import expect

from apps.organizations.models import Organization
from apps.workspaces.models import Workspace
from tests.factories.identity import UserFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"


def _link_from(message) -> str:
    return re.search(r"(http://\S+)", message.body).group(1)


def _verified_user(email: str):
    user = UserFactory(email=email)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user


def test_sign_up_verify_onboard_sign_out_and_in(ui, mailoutbox):
    page = ui.page
    ui.goto("/")
    assert ui.path == "/accounts/login/?next=/"
    ui.click_to_page(page.get_by_role("link", name="Create an account"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Create your account")

    page.get_by_label("Email").fill("grace@example.com")
    page.get_by_label("Password", exact=True).fill("a-long-passphrase-1")
    page.get_by_label("Password (again)").fill("a-long-passphrase-1")
    ui.submit("Sign up")
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    assert [m.to for m in mailoutbox] == [["grace@example.com"]]

    ui.goto(_link_from(mailoutbox[0]))
    expect(page.get_by_text("Confirm that grace@example.com is your email address.")).to_be_visible()
    ui.submit("Confirm my email address")
    assert ui.path == "/onboarding/"
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome to Praetor")

    page.get_by_label("Organization name").fill("Acme Corp")
    page.get_by_label("Workspace name").fill("Production")
    page.get_by_label("Workspace handle").fill("prod")
    ui.submit("Create and open the workspace")
    assert ui.path == "/acme-corp/prod/"
    expect(page.get_by_role("heading", level=1)).to_contain_text("Production")
    expect(page.get_by_text("prefect cloud login --key YOUR_API_KEY --workspace acme-corp/prod")).to_be_visible()
    expect(page.get_by_text(f"prefect config set PREFECT_CLOUD_API_URL={ui.base_url}/api")).to_be_visible()
    org = Organization.objects.get(handle="acme-corp")
    assert Workspace.objects.for_organization(org).get().handle == "prod"

    ui.submit("Sign out")
    assert ui.path == "/accounts/login/?next=/"
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")

    page.get_by_label("Email").fill("grace@example.com")
    page.get_by_label("Password").fill("a-long-passphrase-1")
    ui.submit("Sign in")
    assert ui.path == "/"
    expect(page.get_by_role("heading", level=1)).to_have_text("Your workspaces")
    ui.click_to_page(page.get_by_role("link", name="Production acme-corp/prod"))
    assert ui.path == "/acme-corp/prod/"


def test_password_reset_end_to_end(ui, mailoutbox):
    _verified_user("ada@example.com")
    page = ui.page
    ui.goto("/accounts/login/")
    ui.click_to_page(page.get_by_role("link", name="Forgot your password?"))
    page.get_by_label("Email").fill("ada@example.com")
    ui.submit("Send the reset link")
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    assert len(mailoutbox) == 1

    link = _link_from(mailoutbox[0])
    ui.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose a new password")
    page.get_by_label("New Password", exact=True).fill("a-brand-new-passphrase")
    page.get_by_label("New Password (again)").fill("a-brand-new-passphrase")
    ui.submit("Set my new password")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your password is changed")

    ui.goto("/accounts/login/")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    ui.submit("Sign in")
    expect(page.get_by_text("The email address and/or password you specified are not correct.")).to_be_visible()
    page.get_by_label("Password").fill("a-brand-new-passphrase")
    ui.submit("Sign in")
    assert ui.path == "/onboarding/"

    ui.goto(link)  # a reset link works once
    expect(page.get_by_role("heading", level=1)).to_have_text("This link does not work")


def test_sign_in_with_the_keyboard_alone(ui):
    _verified_user("kay@example.com")
    page = ui.page
    ui.goto("/accounts/login/")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Email")).to_be_focused()
    page.keyboard.type("kay@example.com")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    ui.visited()
    assert ui.path == "/onboarding/"


@pytest.mark.parametrize("ui", ["phone"], indirect=True)
def test_onboarding_fits_a_phone_screen(ui):
    user = _verified_user("pat@example.com")
    page = ui.page
    ui.goto("/accounts/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    ui.submit("Sign in")
    assert ui.path == "/onboarding/"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.get_by_label("Organization name").fill("Pocket")
    ui.submit("Create and open the workspace")
    assert ui.path == "/pocket/production/"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
