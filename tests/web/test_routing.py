"""Organization handles vs our own routes: /api/…, /accounts/… never reach an organization page."""

import pytest
from django.urls import get_resolver

from apps.web.routing import RESERVED
from tests.factories.organizations import OrganizationFactory

pytestmark = pytest.mark.django_db


def _first_segments(patterns):
    for pattern in patterns:
        route = str(pattern.pattern).lstrip("^")
        first = route.split("/", 1)[0].rstrip("$")
        if first and not first.startswith("<"):
            yield first
        elif not first and hasattr(pattern, "url_patterns"):
            yield from _first_segments(pattern.url_patterns)


def test_every_fixed_top_level_route_is_a_reserved_handle():
    assert set(_first_segments(get_resolver().url_patterns)) <= RESERVED


@pytest.mark.parametrize("path", ["/api/no-such-endpoint", "/accounts/nothing-here", "/no-such-page",
                                  "/no-such-page/", "/no-such-page/prod/"])
def test_unknown_paths_are_plain_404s_for_anonymous_visitors(client, path):
    assert client.get(path).status_code == 404


def test_a_real_organization_asks_anonymous_visitors_to_sign_in(client):
    OrganizationFactory(handle="acme")
    response = client.get("/acme/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/acme/"


def test_organization_path_without_slash_redirects_members_only(client, user, organization):
    client.force_login(user)
    response = client.get(f"/{organization.handle}")
    assert response.status_code == 302
    assert response["Location"] == f"/{organization.handle}/"
    assert client.get("/someone-elses").status_code == 404
