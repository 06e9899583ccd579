"""One typed helper to read environment variables, with the embedded default beside each name."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.exceptions import ImproperlyConfigured

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _to_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"not a boolean: {raw!r}")


def _to_list(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


CASTS: dict[type | str, Callable[[str], Any]] = {bool: _to_bool, int: int, float: float, str: str, list: _to_list}


def env(name: str, default: T | None = None, cast: type | Callable[[str], Any] = str, *, required: bool = False) -> Any:
    """Read `name` from the environment, cast it, or fall back to `default`.

    `required=True` turns a missing variable into ImproperlyConfigured naming it, which is
    how production settings refuse the embedded defaults.
    """
    raw = os.environ.get(name)
    if raw is None or raw == "":
        if required:
            raise ImproperlyConfigured(f"Set the environment variable {name}.")
        return default
    caster = CASTS.get(cast, cast)
    try:
        return caster(raw)
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(f"Environment variable {name} is invalid: {exc}") from exc


def is_set(name: str) -> bool:
    return bool(os.environ.get(name))
