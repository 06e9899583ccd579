"""Display helpers for orchestration objects: state badges, durations, JSON and log levels."""

from __future__ import annotations

import datetime
import json

from django import template
from django.utils.html import format_html

register = template.Library()

LOG_LEVELS = {10: "DEBUG", 20: "INFO", 30: "WARNING", 40: "ERROR", 50: "CRITICAL"}


@register.simple_tag
def state_badge(state_type: str | None, state_name: str | None = None):
    """The state as text in a coloured badge: the name says it, the colour only repeats it."""
    kind = (state_type or "none").lower()
    label = state_name or (state_type or "No state").title()
    return format_html('<span class="state state-{}">{}</span>', kind, label)


@register.filter
def duration(value) -> str:
    """A timedelta (or seconds) as "1h 02m", "3m 04s" or "5.2s"."""
    if value is None or value == "":
        return ""
    seconds = value.total_seconds() if isinstance(value, datetime.timedelta) else float(value)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


@register.filter
def pretty_json(value) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


@register.filter
def log_level(value: int) -> str:
    return LOG_LEVELS.get(value, str(value))


@register.filter
def utc(value) -> str:
    """A datetime as "2026-11-23 12:00:05 UTC" (the product shows every time in UTC)."""
    if not value:
        return ""
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# The workspace's sections: (url name, label, permission needed to see it). Access is always listed.
WORKSPACE_SECTIONS = (
    ("web:flow-runs", "Flow runs", "flow_runs:read"),
    ("web:flows", "Flows", "flows:read"),
    ("web:deployments", "Deployments", "deployments:read"),
    ("web:work-pools", "Work pools", "work_pools:read"),
    ("web:blocks", "Blocks", "blocks:read"),
    ("web:variables", "Variables", "variables:read"),
    ("web:artifacts", "Artifacts", "artifacts:read"),
    ("web:concurrency-limits", "Concurrency", "concurrency_limits:read"),
)


@register.simple_tag(takes_context=True)
def workspace_nav(context) -> list[dict]:
    """The sections the signed-in user may open, the one holding the current page marked current."""
    from django.urls import NoReverseMatch, reverse

    request = context["request"]
    access = getattr(request, "access", None)
    org, ws = context["organization"].handle, context["workspace"].handle
    items = []
    for name, label, permission in WORKSPACE_SECTIONS:
        if access is None or not access.has(permission):
            continue
        try:
            url = reverse(name, args=[org, ws])
        except NoReverseMatch:  # a section whose pages are not routed in this build
            continue
        items.append({"url": url, "label": label, "current": request.path.startswith(url)})
    return items
