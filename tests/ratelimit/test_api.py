"""Every API request draws once from the right bucket; headers on every API response; 429 in our
error shape with Retry-After; API key failures throttled per IP."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.identity.services import api_key_create
from apps.ratelimit import services
from apps.ratelimit.selectors import organization_usage
from tests.factories.identity import UserFactory
from tests.factories.organizations import OrganizationFactory, ServiceAccountFactory, membership
from tests.factories.workspaces import WorkspaceFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.ratelimit.urls")]

HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")


def probe(workspace) -> str:
    return f"/api/accounts/{workspace.organization_id}/workspaces/{workspace.pk}/probe"


def remaining(response) -> int:
    return int(response["RateLimit-Remaining"])


def keyed_client(owner) -> APIClient:
    _, secret = api_key_create(owner=owner, name="k", expires_at=None)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def api_left(organization) -> int:
    return next(u for u in organization_usage(organization=organization) if u.bucket == "api").remaining


def test_organization_gets_exactly_its_limit_then_429_with_retry_after(authed_client, workspace, tiny_limits):
    responses = [authed_client.get(probe(workspace)) for _ in range(6)]
    assert [r.status_code for r in responses] == [200] * 5 + [429]
    assert [remaining(r) for r in responses] == [4, 3, 2, 1, 0, 0]
    assert all(r["RateLimit-Limit"] == "5" for r in responses)
    denied = responses[-1]
    assert denied.json() == {
        "detail": "Rate limit exceeded: this account may make 5 API requests per minute. Retry in 12 seconds.",
        "code": "rate_limited",
    }
    assert denied["Retry-After"] == "12" and denied["RateLimit-Reset"] == "60"
    assert "Retry-After" not in responses[0]


def test_every_request_counts_once_whatever_its_answer(authed_client, workspace, tiny_limits):
    url = probe(workspace)
    answers = [
        authed_client.get(url),
        authed_client.get(url, {"outcome": "not_found"}),
        authed_client.get(url, {"outcome": "invalid"}),
        authed_client.post(url, [{"message": "hi"}], format="json"),
        authed_client.delete(url),  # 405: not served by the endpoint
    ]
    assert [r.status_code for r in answers] == [200, 404, 422, 201, 405]
    assert [remaining(r) for r in answers] == [4, 3, 2, 1, 0]
    assert authed_client.get(url).status_code == 429


def test_organizations_are_isolated(authed_client, user, workspace, tiny_limits):
    other_org = OrganizationFactory()
    membership(other_org, user, "owner")
    other_ws = WorkspaceFactory(organization=other_org)
    for _ in range(5):
        authed_client.get(probe(workspace))
    assert authed_client.get(probe(workspace)).status_code == 429
    fresh = authed_client.get(probe(other_ws))
    assert (fresh.status_code, remaining(fresh)) == (200, 4)
    assert api_left(workspace.organization) == 0 and api_left(other_org) == 4


def test_account_urls_draw_from_the_same_organization_bucket(authed_client, workspace, tiny_limits):
    authed_client.get(probe(workspace))
    response = authed_client.get(f"/api/accounts/{workspace.organization_id}/probe")
    assert (response.status_code, remaining(response)) == (200, 3)


def test_outsider_requests_never_drain_the_named_organization(workspace, tiny_limits):
    outsider = keyed_client(UserFactory())
    for _ in range(8):
        assert outsider.get(probe(workspace)).status_code == 404
    assert api_left(workspace.organization) == 5


def test_non_member_404_counts_against_the_callers_own_bucket(workspace, settings):
    settings.PRAETOR_RATELIMIT_USER_PER_MINUTE = 2
    outsider = keyed_client(UserFactory())
    answers = [outsider.get(probe(workspace)) for _ in range(3)]
    assert [r.status_code for r in answers] == [404, 404, 429]
    assert [r["RateLimit-Limit"] for r in answers] == ["2", "2", "2"]
    assert answers[-1].json()["code"] == "rate_limited"


def test_user_requests_outside_accounts_use_the_users_bucket(authed_client, workspace, settings):
    settings.PRAETOR_RATELIMIT_USER_PER_MINUTE = 3
    answers = [authed_client.get("/api/me/") for _ in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert [remaining(r) for r in answers] == [2, 1, 0, 0]
    assert api_left(workspace.organization) == 250  # the organization's bucket is untouched


def test_service_account_requests_outside_accounts_use_its_organization(tiny_limits):
    bot = ServiceAccountFactory()
    client = keyed_client(bot)
    response = client.get("/api/me/")
    assert (response.status_code, response["RateLimit-Limit"], remaining(response)) == (200, "5", 4)
    assert api_left(bot.organization) == 4


def test_log_messages_draw_one_unit_each_from_logs_events(authed_client, workspace, tiny_limits):
    url = probe(workspace)
    assert authed_client.post(url, [{"message": str(i)} for i in range(6)], format="json").status_code == 201
    denied = authed_client.post(url, [{"message": str(i)} for i in range(6)], format="json")
    assert denied.status_code == 429
    assert denied.json() == {
        "detail": "Rate limit exceeded: this account may make 10 log messages and events per minute. "
        "Retry in 12 seconds.",
        "code": "rate_limited",
    }
    # The headers describe the bucket that refused: logs_events, 4 left.
    assert (denied["RateLimit-Limit"], denied["RateLimit-Remaining"], denied["Retry-After"]) == ("10", "4", "12")
    assert authed_client.post(url, [{"message": "a"}] * 4, format="json").status_code == 201
    usage = {u.bucket: u for u in organization_usage(organization=workspace.organization)}
    assert (usage["api"].remaining, usage["logs_events"].remaining) == (2, 0)
    assert (usage["logs_events"].allowed_last_hour, usage["logs_events"].denied_last_hour) == (10, 6)


def logs_url(workspace) -> str:
    return f"/api/accounts/{workspace.organization_id}/workspaces/{workspace.pk}/logs/"


LINE = {"name": "prefect.flow_runs", "level": 20, "message": "hi", "timestamp": "2026-11-01T12:00:00+00:00"}


def test_a_log_batch_is_paid_in_logs_events_alone(authed_client, workspace, tiny_limits):
    # The run's own requests have emptied the api bucket: its log batches are not refused for it (the
    # prefect client sends a batch six times at most, and would lose the race for each api token).
    assert [authed_client.get(probe(workspace)).status_code for _ in range(6)] == [200] * 5 + [429]
    taken = authed_client.post(logs_url(workspace), [LINE] * 3, format="json")
    assert taken.status_code == 201
    assert (taken["RateLimit-Limit"], remaining(taken)) == ("10", 7)  # the headers describe logs_events
    assert authed_client.post(logs_url(workspace), [LINE] * 7, format="json").status_code == 201
    refused = authed_client.post(logs_url(workspace), [LINE], format="json")
    assert refused.status_code == 429
    assert refused.json()["detail"].startswith(
        "Rate limit exceeded: this account may make 10 log messages and events per minute. Retry in "
    )
    assert (refused["RateLimit-Limit"], refused["Retry-After"] in ("5", "6")) == ("10", True)  # 1 unit: 6 s
    usage = {u.bucket: u for u in organization_usage(organization=workspace.organization)}
    assert (usage["api"].allowed_last_hour, usage["api"].denied_last_hour) == (5, 1)  # the probes alone
    assert (usage["logs_events"].allowed_last_hour, usage["logs_events"].denied_last_hour) == (10, 1)


def test_a_log_request_that_is_not_a_batch_of_logs_draws_from_api(authed_client, workspace, tiny_limits):
    answers = [
        authed_client.post(logs_url(workspace), {"not": "a list"}, format="json"),
        authed_client.post(logs_url(workspace), [{"name": "no level, message or timestamp"}], format="json"),
        authed_client.post(logs_url(workspace), [], format="json"),
    ]
    assert [r.status_code for r in answers] == [422, 422, 201]
    assert [(r["RateLimit-Limit"], remaining(r)) for r in answers] == [("5", 4), ("5", 3), ("5", 2)]
    usage = {u.bucket: u for u in organization_usage(organization=workspace.organization)}
    assert (usage["api"].allowed_last_hour, usage["logs_events"].allowed_last_hour) == (3, 0)


@pytest.mark.parametrize(
    ("path", "credentials", "status"),
    [
        ("/api/me/", "good", 200),
        ("/api/me/", "bad", 401),
        ("/api/me/", None, 401),
        ("/api/no-such-endpoint", "good", 404),
        ("/api/no-such-endpoint", None, 404),
        ("probe", "good", 200),
        ("account-probe-post", "good", 201),
        ("foreign-probe", "good", 404),
        ("/api/schema/", None, 200),
    ],
)
def test_every_api_response_carries_the_ratelimit_headers(user_key, workspace, path, credentials, status):
    client = APIClient()
    if credentials:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {user_key if credentials == 'good' else 'pnu_' + 'x' * 36}")
    if path == "probe":
        response = client.get(probe(workspace))
    elif path == "account-probe-post":
        response = client.post(f"/api/accounts/{workspace.organization_id}/probe")
    elif path == "foreign-probe":
        response = client.get(probe(WorkspaceFactory()))
    else:
        response = client.get(path)
    assert response.status_code == status
    assert all(response.has_header(name) for name in HEADERS)
    assert int(response["RateLimit-Remaining"]) == int(response["RateLimit-Limit"]) - 1


def test_browser_session_requests_are_counted_like_keys(client, user, workspace, tiny_limits):
    client.force_login(user)
    answers = [client.get(probe(workspace)) for _ in range(6)]
    assert [r.status_code for r in answers] == [200] * 5 + [429]


def test_anonymous_clients_are_limited_per_ip(api_client, settings):
    settings.PRAETOR_RATELIMIT_ANONYMOUS_PER_MINUTE = 3
    answers = [api_client.get("/api/me/") for _ in range(4)]
    assert [r.status_code for r in answers] == [401, 401, 401, 429]
    assert answers[-1].json() == {
        "detail": "Rate limit exceeded: 3 requests per minute from one address. Retry in 20 seconds.",
        "code": "rate_limited",
    }
    assert answers[-1]["Retry-After"] == "20"
    other_ip = api_client.get("/api/me/", REMOTE_ADDR="10.1.2.3")
    assert (other_ip.status_code, remaining(other_ip)) == (401, 2)


def test_forwarded_for_header_is_not_trusted_by_the_limiter(api_client, settings):
    settings.PRAETOR_RATELIMIT_ANONYMOUS_PER_MINUTE = 1
    assert api_client.get("/api/me/", HTTP_X_FORWARDED_FOR="1.1.1.1").status_code == 401
    # A forged header does not buy a fresh bucket: the peer address (set by uvicorn for trusted proxies) counts.
    assert api_client.get("/api/me/", HTTP_X_FORWARDED_FOR="2.2.2.2").status_code == 429


def test_api_key_failures_are_throttled_per_ip(user_key, workspace, settings):
    settings.PRAETOR_RATELIMIT_AUTH_FAILURES_PER_MINUTE = 3
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Bearer pnu_" + "x" * 36)
    assert [bad.get("/api/me/").status_code for _ in range(3)] == [401, 401, 401]
    denied = bad.get("/api/me/")
    assert denied.status_code == 429 and denied["Retry-After"] == "20"
    assert denied.json() == {
        "detail": "Rate limit exceeded: too many failed API key authentications from this address. "
        "Retry in 20 seconds.",
        "code": "rate_limited",
    }
    # From that address even a valid key waits (a guesser learns nothing); other addresses are unaffected.
    good = APIClient()
    good.credentials(HTTP_AUTHORIZATION=f"Bearer {user_key}")
    assert good.get("/api/me/").status_code == 429
    assert good.get("/api/me/", REMOTE_ADDR="10.9.9.9").status_code == 200
    assert bad.get("/api/me/", REMOTE_ADDR="10.9.9.9").status_code == 401


def test_rate_limiting_off_means_no_draws_and_no_headers(authed_client, workspace, settings, tiny_limits):
    settings.PRAETOR_RATELIMIT_ENABLED = False
    answers = [authed_client.get(probe(workspace)) for _ in range(7)]
    assert [r.status_code for r in answers] == [200] * 7
    assert not any(r.has_header("RateLimit-Limit") for r in answers)


def test_the_hook_adds_no_query(authed_client, workspace, settings, django_assert_num_queries):
    authed_client.get(probe(workspace))  # first use of the key writes last_used_at
    settings.PRAETOR_RATELIMIT_ENABLED = False
    # key, workspace and access come from the auth cache: the probe reads nothing, limiter on or off
    with django_assert_num_queries(0) as off:
        authed_client.get(probe(workspace))
    settings.PRAETOR_RATELIMIT_ENABLED = True
    with django_assert_num_queries(0):
        response = authed_client.get(probe(workspace))
    assert response.status_code == 200 and len(off.captured_queries) == 0


def test_consume_by_organization_id(workspace, tiny_limits):
    org = workspace.organization
    assert services.consume(str(org.pk), "logs_events", 4).remaining == 6
    assert services.consume(org.pk, "logs_events", 0).remaining == 6  # nothing to draw: a peek
    assert services.consume(org, "logs_events", 7).allowed is False
    with pytest.raises(ValueError, match="Unknown rate-limit bucket"):
        services.consume(org, "flows", 1)
    with pytest.raises(ValueError, match="negative"):
        services.consume(org, "api", -1)


def test_limits_follow_the_tier_and_operator_overrides(authed_client, workspace, settings):
    from apps.billing.services import enterprise_set, organization_tier_set

    # Exact Remaining: with leases, the unspent tokens of the leases drawn at the earlier limits would still
    # count as used when the limit changes (tests/ratelimit/test_leases.py covers leases).
    settings.PRAETOR_RATELIMIT_LEASE_MAX = 1
    org = workspace.organization
    assert authed_client.get(probe(workspace))["RateLimit-Limit"] == "250"
    organization_tier_set(organization=org, tier="growth")
    assert authed_client.get(probe(workspace))["RateLimit-Limit"] == "2000"
    enterprise_set(organization=org, overrides={"rate_limit_api_per_minute": 30_000})
    response = authed_client.get(probe(workspace))
    assert (response["RateLimit-Limit"], response["RateLimit-Remaining"]) == ("30000", "29999")
    assert services.consume(org, "logs_events", 1).limit == 50_000
