"""An account URL's API draw (apps/ratelimit/middleware.py `api_request_draw` → services.organization_api_consume,
docs/performance.md "Seventeenth step: ... (branch draw6)"): the same draw as `consume(organization, "api")` (the
same bucket key and limit handed to the leased limiter, the same decisions, 429 and Retry-After), found by one memo
that follows a tier change at once, an operator's override within the limits memo's seconds and a change of
settings at the next draw."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from apps.billing.models import Plan
from apps.billing.services import organization_tier_set, plan_changed
from apps.core.errors import DomainError
from apps.organizations.models import Organization
from apps.ratelimit import middleware, selectors, services, store
from apps.ratelimit.errors import RateLimited
from apps.ratelimit.limiter import LeasedLimiter


class _Request:
    """What api_request_draw reads of a (lean) request: the HttpRequest, the user, the resolved organization."""

    def __init__(self, user, organization):
        self._request = RequestFactory().get("/api/accounts/a/workspaces/w/task_runs/x", REMOTE_ADDR="10.9.8.7")
        self.user, self.organization = user, organization


@pytest.fixture
def drawn(monkeypatch):
    """(key, limit, period) of every LeasedLimiter.consume_one call, in order."""
    seen = []
    consume_one = LeasedLimiter.consume_one

    def spy(self, key, *, limit, period):
        seen.append((key, limit, period))
        return consume_one(self, key, limit=limit, period=period)

    monkeypatch.setattr(LeasedLimiter, "consume_one", spy)
    return seen


@pytest.fixture
def limiting(settings):
    settings.PRAETOR_RATELIMIT_ENABLED = True
    settings.PRAETOR_RATELIMIT_NAMESPACE = "draw6:"  # a fresh limiting (and memo) for the test
    store.current().leased.reset()
    return store.current()


def test_an_account_draw_hands_the_leased_limiter_what_consume_hands_it(limiting, drawn, organization, user):
    services.consume(organization, "api")
    middleware.api_request_draw(request := _Request(user, organization))
    middleware.api_request_draw(_Request(user, organization))  # the second from the memo
    expected = (store.bucket_key("api", "org", organization.pk), selectors.organization_limits(organization)["api"],
                selectors.PERIOD_SECONDS)
    assert drawn == [expected] * 3
    state = middleware._state(request._request)
    assert state.ip == "10.9.8.7" and state.decision.allowed and state.decision.limit == expected[1]


def test_a_remembered_account_draw_calls_neither_consume_nor_the_two_memos(limiting, monkeypatch, organization, user):
    """One memo lookup (`_Current.api_draws`) instead of `consume`, `_draw`, the limits memo and the bucket-key memo:
    ~8 k instructions a request under callgrind (docs/performance.md)."""
    middleware.api_request_draw(earlier := _Request(user, organization))
    first = earlier._request._praetor_ratelimit.decision

    def refused(*args, **kwargs):
        raise AssertionError("called on a remembered draw")

    for module, name in [(services, "consume"), (services, "_draw"), (services, "organization_limits_until"),
                         (services, "organization_limits"), (services, "bucket_key"), (middleware, "_draw_for_actor"),
                         (middleware, "_state")]:
        monkeypatch.setattr(module, name, refused, raising=False)
    middleware.api_request_draw(request := _Request(user, organization))
    decision = request._request._praetor_ratelimit.decision
    assert decision.allowed and decision.limit == first.limit and decision.remaining == first.remaining - 1


def test_an_account_draw_refuses_as_consume_does(limiting, tiny_limits, organization, user):
    """An empty bucket: the same 429, detail and Retry-After as the draw by `consume` (the limit 5 is not leased)."""
    for _ in range(5):
        middleware.api_request_draw(_Request(user, organization))
    with pytest.raises(RateLimited) as refused:
        middleware.api_request_draw(request := _Request(user, organization))
    decision = request._request._praetor_ratelimit.decision
    assert not decision.allowed and refused.value.decision is decision and decision.limit == 5
    assert str(refused.value.detail) == (f"Rate limit exceeded: this account may make 5 API requests per minute. "
                                         f"Retry in {decision.retry_after_seconds} seconds.")
    assert refused.value.headers["Retry-After"] == str(decision.retry_after_seconds)
    assert isinstance(refused.value, DomainError) and refused.value.status_code == 429
    assert not services.consume(organization, "api").allowed  # the same bucket


def test_a_tier_change_is_in_force_at_the_next_draw(limiting, drawn, organization, user):
    before = services.organization_api_consume(organization).limit
    tiers = [tier for tier in ("free", "starter", "growth", "enterprise") if tier != organization.tier]
    changed = None
    for tier in tiers:
        organization_tier_set(organization=organization, tier=tier)
        changed = services.organization_api_consume(organization)
        assert changed.limit == selectors.organization_limits(organization)["api"]
        if changed.limit != before:
            break
    assert changed is not None and changed.limit != before


def test_an_override_is_in_force_once_the_limits_memo_expires(limiting, drawn, monkeypatch, organization, user):
    """The memo lives exactly as long as the limits memo's entry it was made from (`organization_limits_until`)."""
    clock = [1_000.0]
    monkeypatch.setattr(selectors.time, "monotonic", lambda: clock[0])  # the one time module: services' too
    first = services.organization_api_consume(organization)
    plan = Plan.objects.get(slug=organization.tier)
    plan.rate_limit_api_per_minute = first.limit + 100
    plan.save(update_fields=["rate_limit_api_per_minute"])
    plan_changed(plan=plan)
    clock[0] += selectors.LIMITS_MEMO_SECONDS - 0.001
    assert services.organization_api_consume(organization).limit == first.limit
    assert selectors.organization_limits(organization)["api"] == first.limit  # the limits memo: the same answer
    clock[0] += 0.001
    assert services.organization_api_consume(organization).limit == first.limit + 100
    assert selectors.organization_limits(organization)["api"] == first.limit + 100
    assert drawn[-1][1] == first.limit + 100


def test_a_change_of_settings_is_in_force_at_the_next_draw(limiting, drawn, settings, organization, user):
    services.organization_api_consume(organization)
    settings.PRAETOR_RATELIMIT_NAMESPACE = "moved:"
    services.organization_api_consume(organization)
    assert drawn[-1][0] == f"{settings.PRAETOR_REDIS_PREFIX}rl:moved:api:org:{organization.pk}"
    settings.PRAETOR_RATELIMIT_ENABLED = False
    assert services.organization_api_consume(organization) == services._unlimited(drawn[-1][1])


def test_the_account_draw_memo_is_bounded(limiting, monkeypatch, organization):
    from tests.factories.organizations import OrganizationFactory

    monkeypatch.setattr(services, "_API_DRAWS_MAX", 2)
    others = [OrganizationFactory() for _ in range(4)]
    for org in [organization, *others]:
        assert services.organization_api_consume(org).limit == selectors.organization_limits(org)["api"]
    assert len(limiting.api_draws) <= 2


def test_a_draw_without_an_organization_or_an_organization_by_id_takes_the_actors_way(limiting, drawn, user):
    """A user's request outside an account's URLs draws from the user's bucket, as before."""
    middleware.api_request_draw(request := _Request(user, None))
    assert drawn[-1][0] == store.bucket_key("api", "user", user.pk)
    assert request._request._praetor_ratelimit.decision.allowed


def test_an_organizations_id_is_its_pk(organization):
    """organization_api_consume reads `organization.id` for its `pk` (the property costs two Python calls)."""
    assert Organization._meta.pk.attname == "id" and organization.id is organization.pk
