"""drf-spectacular hooks: each API path documented once, whatever trailing-slash twins the URLconf serves."""

from __future__ import annotations


def drop_slash_aliases(endpoints, **kwargs):
    """Keep the first route of each (path without its final slash, method); its twin is the same view."""
    seen: set[tuple[str, str]] = set()
    kept = []
    for endpoint in endpoints:
        path, _regex, method, _callback = endpoint
        key = (path.rstrip("/"), method)
        if key in seen:
            continue
        seen.add(key)
        kept.append(endpoint)
    return kept
