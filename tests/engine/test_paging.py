"""Every filter endpoint pages as Prefect 2.20 does: no limit (absent or null) is the default of 200,
`limit: 0` is an empty page, and offset skips rows."""

from __future__ import annotations

import datetime

import pytest

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 11, 23, 12, 0, tzinfo=datetime.UTC).isoformat()


def base(ws) -> str:
    return f"/api/accounts/{ws.organization_id}/workspaces/{ws.pk}/"


def seed(client, ws) -> None:
    for i in range(3):
        assert client.post(base(ws) + "variables/", {"name": f"v{i}", "value": "x"}, format="json").status_code == 201
        assert client.post(base(ws) + "artifacts/", {"key": f"k{i}", "data": "x"}, format="json").status_code == 201
        assert client.post(base(ws) + "concurrency_limits/", {"tag": f"t{i}", "concurrency_limit": 1},
                           format="json").status_code in (200, 201)
        assert client.post(base(ws) + "v2/concurrency_limits/", {"name": f"n{i}", "limit": 1},
                           format="json").status_code in (200, 201)
    logs = [{"name": "bench", "level": 20, "message": f"m{i}", "timestamp": NOW} for i in range(3)]
    assert client.post(base(ws) + "logs/", logs, format="json").status_code == 201


ENDPOINTS = ["variables/filter", "artifacts/filter", "artifacts/latest/filter", "concurrency_limits/filter",
             "v2/concurrency_limits/filter", "logs/filter"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_limit_offset_as_prefect_reads_them(authed_client, workspace, endpoint):
    seed(authed_client, workspace)

    def count(**body) -> int:
        response = authed_client.post(base(workspace) + endpoint, body, format="json")
        assert response.status_code == 200, response.content
        return len(response.json())

    assert count() == 3
    assert count(limit=None, offset=None) == 3
    assert count(limit=0) == 0
    assert count(limit=2) == 2
    assert count(limit=2, offset=2) == 1
