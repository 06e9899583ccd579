from __future__ import annotations

import pytest

from apps.billing.models import Plan
from apps.billing.services import plan_changed


@pytest.fixture
def tiny_limits(db):
    """The Free tier of the catalog allows 5 API requests and 10 log messages/events per minute."""
    plan = Plan.objects.get(slug="free")
    plan.rate_limit_api_per_minute = 5
    plan.rate_limit_logs_events_per_minute = 10
    plan.save(update_fields=["rate_limit_api_per_minute", "rate_limit_logs_events_per_minute"])
    plan_changed(plan=plan)
    return {"api": 5, "logs_events": 10}
