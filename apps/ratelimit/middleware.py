"""Every API request is drawn exactly once from one bucket; every API response carries RateLimit-Limit,
-Remaining and -Reset; an empty bucket answers 429 with Retry-After in our error shape.

Who pays for a request under /api/:
- a request whose organization the base views resolved (account and workspace URLs, membership
  checked): that organization's `api` bucket, drawn by `api_request_draw` before the handler runs;
  a log batch (POST logs/) its `logs_events` bucket instead, one unit per message (`logs_request_draw`);
- any other authenticated request (/api/me…, or one answered 4xx before its organization is known,
  e.g. a non-member's 404): a service account's own organization, or the user's own bucket. Never
  the organization named in the URL, so an outsider cannot drain another account's allowance;
- unauthenticated requests: the client IP's bucket, drawn before anything else runs.
A request carrying an API key that fails authentication also counts against its IP's failure
bucket; while that is empty, every keyed request from the IP is 429 before its key is even looked up,
valid or not, so a guesser learns nothing. Only addresses this process saw fail in the last minute are
checked before the key (one Redis round trip saved on every healthy request), so across N processes
at most N failures beyond the limit get through.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.http import JsonResponse

from apps.organizations.models import Organization
from apps.ratelimit import services, store
from apps.ratelimit.errors import RateLimited, ratelimit_header_entries, ratelimit_headers
from apps.ratelimit.limiter import Decision
from apps.ratelimit.selectors import API, LOGS_EVENTS
from apps.ratelimit.store import current

API_PREFIX = "/api/"
_STATE = "_praetor_ratelimit"
_ACCOUNT_WHAT = "this account may make {limit} API requests per minute"
_FAILURE_MEMORY_SECONDS = 60.0
_FAILURE_MEMORY_MAX = 10_000
_recent_failures: dict[str, float] = {}  # ip -> when this process last saw it fail authentication


def _failed_recently(ip: str) -> bool:
    seen = _recent_failures.get(ip)
    return seen is not None and time.monotonic() - seen < _FAILURE_MEMORY_SECONDS


def _remember_failure(ip: str) -> None:
    if len(_recent_failures) >= _FAILURE_MEMORY_MAX:
        _recent_failures.clear()
    _recent_failures[ip] = time.monotonic()


@dataclass(slots=True)
class _RequestDraw:
    ip: str
    decision: Decision | None = None  # the one draw this request was counted by


def client_ip(request) -> str:
    """The peer address. Behind trusted proxies uvicorn has already set it from X-Forwarded-For
    (PRAETOR_FORWARDED_ALLOW_IPS); the header itself is client-supplied and never read here."""
    return request.META.get("REMOTE_ADDR") or "unknown"


def _state(http_request) -> _RequestDraw:
    state = getattr(http_request, _STATE, None)
    if state is None:
        state = _RequestDraw(client_ip(http_request))  # positional: no keyword dict
        setattr(http_request, _STATE, state)
    return state


def _draw_for_actor(actor, organization) -> tuple[Decision, str]:
    if organization is not None:
        return services.consume(organization, API), _ACCOUNT_WHAT
    if getattr(actor, "actor_type", None) == "service_account":
        return services.consume(actor.organization_id, API), _ACCOUNT_WHAT
    return services.user_consume(actor.pk), "you may make {limit} API requests per minute outside an account's URLs"


def _error(decision: Decision, what: str) -> RateLimited:
    return RateLimited(
        f"Rate limit exceeded: {what.format(limit=decision.limit)}. Retry in {decision.retry_after_seconds} seconds.",
        decision=decision,
    )


def api_request_draw(request) -> None:
    """Draw this API request from its bucket, or raise RateLimited (429). Called by the base API view
    once the caller is authenticated and the URL's organization resolved, before the handler runs."""
    if not (store._current or current()).enabled:  # current(), without its call when built
        return
    http_request = getattr(request, "_request", request)
    state = getattr(http_request, _STATE, None)  # `_state`, without its call
    if state is None:
        state = _RequestDraw(client_ip(http_request))  # positional: no keyword dict
        setattr(http_request, _STATE, state)
    elif state.decision is not None:  # already counted (an anonymous request, drawn by the middleware)
        return
    actor = request.user
    if not getattr(actor, "is_authenticated", False):
        return  # counted by the middleware against the client IP
    organization = getattr(request, "organization", None)
    if type(organization) is Organization:  # `_draw_for_actor`'s first case, by its shorter way
        decision = state.decision = services.organization_api_consume(organization)
        what = _ACCOUNT_WHAT
    else:
        decision, what = _draw_for_actor(actor, organization)
        state.decision = decision
    if not decision.allowed:
        raise _error(decision, what)


def logs_request_draw(request, organization, n: int) -> None:
    """Draw a log batch request (POST logs/) as its one draw: `n` units (its messages) from the
    organization's `logs_events` bucket, as a batch (allowed whenever the bucket is not empty), instead of
    one unit of `api`; raise RateLimited (429) when the bucket is empty. Log writes are metered by
    `logs_events` alone, so a log batch never waits behind the run's own orchestration requests for an
    `api` token (docs/ratelimit.md, "Buckets")."""
    if not current().enabled:
        return
    state = _state(getattr(request, "_request", request))
    if state.decision is not None:
        return
    state.decision = services.consume(organization, LOGS_EVENTS, n, batch=True)
    if not state.decision.allowed:
        raise _error(state.decision, "this account may make {limit} log messages and events per minute")


def _too_many(error: RateLimited) -> JsonResponse:
    return JsonResponse({"detail": error.detail, "code": error.code}, status=429, headers=error.headers)


def keyed_request_needs_no_check(request) -> bool:
    """Whether the check before the view has nothing to do for this request carrying an API key: its address
    has not failed authentication lately in this process (else the failure bucket decides first). The
    lean dispatch (apps/core/lean_middleware.py) passes the middleware by only then."""
    # No address failed lately in this process (the usual case) is decided without reading the request.
    return not _recent_failures or not current().enabled or not _failed_recently(client_ip(request))


def keyed_response_finish(request, response):
    """What the middleware does after the view for a request carrying an API key that passed its check."""
    if not current().enabled:
        return response
    return _finish(request, _state(request), True, response)


def keyed_plain_headers(request) -> dict[str, tuple[str, str]] | None:
    """The headers `keyed_response_finish` adds to a success (2xx) of a request the view drew, in its order
    (it adds nothing else to such a response), as a response's header store holds them (`ResponseHeaders._store`:
    lowercased name -> (name, value): `ratelimit_header_entries`), made straight from the draw's decision; None
    when the request was not drawn (`keyed_response_finish` draws it then)."""
    if not (store._current or current()).enabled:  # current(), without its call when built
        return {}
    state = getattr(request, _STATE, None)
    if state is None or state.decision is None:
        return None
    return ratelimit_header_entries(state.decision)


def _finish(request, state: _RequestDraw, keyed: bool, response):
    if state.decision is None:
        response = _draw_after(request, state) or response
    if keyed and response.status_code == 401:
        _remember_failure(state.ip)
        services.auth_failure_record(state.ip)
    return _with_headers(state, response)


def _with_headers(state: _RequestDraw, response):
    for name, value in ratelimit_headers(state.decision).items():
        if not response.has_header(name):
            response[name] = value
    if response.status_code == 429 and not response.has_header("Retry-After"):
        response["Retry-After"] = str(state.decision.retry_after_seconds)
    return response


def _draw_after(request, state: _RequestDraw) -> JsonResponse | None:
    """Count a request the view did not: by its authenticated actor, else by its IP."""
    actor = getattr(request, "user", None)
    if getattr(actor, "is_authenticated", False):
        state.decision, what = _draw_for_actor(actor, None)
    else:
        state.decision, what = services.anonymous_consume(state.ip), "{limit} requests per minute from one address"
    return None if state.decision.allowed else _too_many(_error(state.decision, what))


class RateLimitMiddleware:
    """Counts what the view did not (requests stopped before `api_request_draw`) and adds the headers."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith(API_PREFIX) or not current().enabled:
            return self.get_response(request)
        state = _state(request)
        keyed = "HTTP_AUTHORIZATION" in request.META
        if keyed and _failed_recently(state.ip):
            exhausted = services.auth_failures_exhausted(state.ip)
            if exhausted is not None:
                state.decision = services.anonymous_consume(state.ip)
                return _with_headers(
                    state, _too_many(_error(exhausted, "too many failed API key authentications from this address"))
                )
        elif not keyed and settings.SESSION_COOKIE_NAME not in request.COOKIES:
            state.decision = services.anonymous_consume(state.ip)
            if not state.decision.allowed:
                return _with_headers(
                    state, _too_many(_error(state.decision, "{limit} requests per minute from one address"))
                )
        return _finish(request, state, keyed, self.get_response(request))
