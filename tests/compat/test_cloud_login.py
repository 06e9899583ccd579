"""`prefect cloud login` with the real 2.20 client (issue 2 item 6): a key and an `account/workspace`
slug set the profile's PREFECT_API_URL to the workspace's API URL."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_cloud_login_with_key_and_workspace_sets_the_profile(praetor):
    login = praetor.cli("cloud", "login", "--key", praetor.api_key, "--workspace", praetor.slug, logged_in=False)
    assert f"Authenticated with Prefect Cloud! Using workspace {praetor.slug!r}." in login.stdout

    # The profile written by the login, read back by the client itself (no API URL or key in the env).
    shown = praetor.run(
        """
        from prefect.settings import PREFECT_API_KEY, PREFECT_API_URL, get_current_settings
        s = get_current_settings()
        print(s.value_of(PREFECT_API_URL))
        print(s.value_of(PREFECT_API_KEY))
        """,
        logged_in=False,
    )
    assert shown.stdout.split() == [praetor.api_url, praetor.api_key]

    listed = praetor.cli("cloud", "workspace", "ls", logged_in=False)
    assert f"* {praetor.slug}" in listed.stdout


def test_cloud_login_refuses_a_wrong_key_and_an_unknown_workspace(praetor):
    wrong = praetor.cli("cloud", "login", "--key", "pnu_" + "x" * 40, "--workspace", praetor.slug,
                        logged_in=False, check=False)
    assert wrong.returncode == 1
    assert "Unable to authenticate with Prefect Cloud. Please ensure your credentials are correct" in wrong.output

    missing = f"{praetor.organization.handle}/nope"
    unknown = praetor.cli("cloud", "login", "--key", praetor.api_key, "--workspace", missing,
                          logged_in=False, check=False)
    assert unknown.returncode == 1
    assert f"Workspace {missing!r} not found. Available workspaces: {praetor.slug!r}" in unknown.output
