"""`now()`: what `django.utils.timezone.now()` returns, without reading `settings.USE_TZ` through LazySettings on
every call (its `__getattribute__` is Python code: ~4 k of the ~6.8 k instructions a `timezone.now()` costs under
callgrind, four a task run set_state). The zone (`datetime.UTC` when USE_TZ, else None for a naive local time) is
read from the settings on first use and again after any change of USE_TZ (`setting_changed`, which
`override_settings` sends), so it follows the setting as `timezone.now()` does. A `timezone.now` replaced by
another function (a test freezing the clock) is called instead: whatever Django's would stamp, this stamps."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils import timezone

_now = datetime.datetime.now
_DJANGO_NOW = timezone.now
_UNREAD = object()
_zone = _UNREAD


def now() -> datetime.datetime:
    """`timezone.now()`: an aware UTC datetime when USE_TZ (tzinfo `datetime.UTC`, as Django's), else naive."""
    if timezone.now is not _DJANGO_NOW:
        return timezone.now()
    zone = _zone
    if zone is _UNREAD:
        zone = _read_zone()
    return _now(zone)


def _read_zone():
    global _zone
    _zone = datetime.UTC if settings.USE_TZ else None
    return _zone


@receiver(setting_changed)
def _forget_zone(*, setting, **kwargs) -> None:
    global _zone
    if setting == "USE_TZ":
        _zone = _UNREAD
