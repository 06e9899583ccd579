"""URL helpers for the API: Cloud's tools call some collection paths with and some without a trailing
slash, so those answer both ways (the schema documents each once: see `schema.drop_slash_aliases`)."""

from __future__ import annotations

from django.urls import path


def both_slashes(route: str, view, name: str) -> list:
    """`route` exactly as named (the canonical one, in the schema), and its twin with or without a final /."""
    twin = route[:-1] if route.endswith("/") else route + "/"
    return [path(route, view, name=name), path(twin, view)]
