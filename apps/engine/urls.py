"""Routes of one workspace's engine, mounted under /api/accounts/{account_id}/workspaces/{workspace_id}/.

Each resource module under apps/engine/api/ exposes its own `urlpatterns`; list it here.
"""

from apps.engine.api import (
    artifacts,
    blocks,
    collections,
    deployments,
    events,
    flow_runs,
    flows,
    task_runs,
    variables,
    work_pools,
)

urlpatterns: list = [
    *artifacts.urlpatterns,
    *blocks.urlpatterns,
    *collections.urlpatterns,
    *deployments.urlpatterns,
    *events.urlpatterns,
    *flows.urlpatterns,
    *flow_runs.urlpatterns,
    *task_runs.urlpatterns,
    *variables.urlpatterns,
    *work_pools.urlpatterns,
]
