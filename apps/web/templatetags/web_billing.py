"""Billing values for the pages: amounts in the smallest currency unit shown as money, and why a
workspace is read-only for the person looking at it."""

from __future__ import annotations

from django import template

from apps.billing.services import read_only_reason

register = template.Library()


@register.filter
def money(cents, currency: str = "usd") -> str:
    """2000, "usd" → "$20.00"; other currencies as "20.00 EUR"."""
    if cents is None:
        return ""
    amount = f"{int(cents) / 100:,.2f}"
    return f"${amount}" if (currency or "usd").lower() == "usd" else f"{amount} {currency.upper()}"


@register.simple_tag(takes_context=True)
def read_only_notice(context):
    """The refusal a write would get here (the `LimitExceeded`, for the upgrade prompt), or None. Free on a
    writable workspace: it reads flags already loaded with the workspace and the page's access."""
    request = context.get("request")
    workspace = getattr(request, "workspace", None)
    if workspace is None:
        return None
    return read_only_reason(workspace=workspace, access=getattr(request, "access", None))


@register.simple_tag(takes_context=True)
def read_only_blocks(context, permission: str) -> str:
    """Why an action needing `permission` is not offered on this page: the caller holds the permission but the
    workspace (or their membership) is read-only, so the page shows the action disabled with this reason
    instead of a link to a 402. Empty when the action is offered, or not the caller's to take anyway.
    Free: it reads the flags and permissions loaded with the page (`PageView.dispatch` masks them)."""
    request = context.get("request")
    unmasked = getattr(request, "unmasked_access", None)
    workspace = getattr(request, "workspace", None)
    if unmasked is None or workspace is None or not unmasked.has(permission) or request.access.has(permission):
        return ""
    if workspace.read_only:
        return "Not available: this workspace is read-only (over the workspace limit)."
    return "Not available: your membership is read-only (over the seat limit)."
