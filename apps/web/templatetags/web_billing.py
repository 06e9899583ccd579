"""Billing values for the pages: amounts in the smallest currency unit shown as money."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def money(cents, currency: str = "usd") -> str:
    """2000, "usd" → "$20.00"; other currencies as "20.00 EUR"."""
    if cents is None:
        return ""
    amount = f"{int(cents) / 100:,.2f}"
    return f"${amount}" if (currency or "usd").lower() == "usd" else f"{amount} {currency.upper()}"
