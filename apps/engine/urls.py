"""Routes of one workspace's engine, mounted under /api/accounts/{account_id}/workspaces/{workspace_id}/.

Each resource module under apps/engine/api/ exposes its own `urlpatterns`; list it here.
"""

from apps.engine.api import (
    artifacts,
    blocks,
    collections,
    concurrency,
    deployments,
    events,
    flow_run_inputs,
    flow_runs,
    flows,
    logs,
    root,
    task_runs,
    variables,
    work_pools,
)

urlpatterns: list = [
    *artifacts.urlpatterns,
    *blocks.urlpatterns,
    *collections.urlpatterns,
    *concurrency.urlpatterns,
    *deployments.urlpatterns,
    *events.urlpatterns,
    *flows.urlpatterns,
    *flow_run_inputs.urlpatterns,
    *flow_runs.urlpatterns,
    *logs.urlpatterns,
    *root.urlpatterns,
    *task_runs.urlpatterns,
    *variables.urlpatterns,
    *work_pools.urlpatterns,
]
