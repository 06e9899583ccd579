from __future__ import annotations

import pytest


@pytest.fixture
def tiny_limits(settings):
    """Free-tier organizations get 5 API requests and 10 log messages/events per minute."""
    settings.PRAETOR_RATELIMIT_TIER_DEFAULTS = {**settings.PRAETOR_RATELIMIT_TIER_DEFAULTS, "free": (5, 10)}
    return {"api": 5, "logs_events": 10}
