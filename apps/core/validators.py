"""Validators shared by every app."""

from __future__ import annotations

import re

from django.utils.text import slugify

from apps.core.errors import Invalid

HANDLE_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
HANDLE_RULE = "lowercase letters, digits and hyphens, 1 to 64 characters, not starting or ending with a hyphen"


def validate_handle(value: str, *, field: str = "handle") -> str:
    """Return the handle if it is a valid slug, else raise Invalid naming the rule."""
    if not isinstance(value, str) or not HANDLE_RE.match(value):
        raise Invalid(f"Invalid {field} {value!r}: use {HANDLE_RULE}.", loc=["body", field], code="invalid_handle")
    return value


def handle_from(text: str, *, fallback: str = "x") -> str:
    """A best-effort handle derived from a name or an email's local part."""
    base = slugify(text)[:64].strip("-")
    return base or fallback


def validate_name(name: str, *, field: str = "name", max_length: int = 100) -> str:
    """Strip and check a display name: not blank, at most `max_length` characters."""
    name = (name or "").strip() if isinstance(name, str) else ""
    if not name:
        raise Invalid(f"{field} may not be blank.", loc=["body", field])
    if len(name) > max_length:
        raise Invalid(f"{field} is at most {max_length} characters.", loc=["body", field])
    return name
