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

# Django tries patterns in order, one regex each: the resources every client run calls come first
# (bench/flows.py measured URL resolution at about 5% of a hot request's CPU when they came last), then
# the workers' polls, then the service routes: the client probes `csrf-token` once per flow run (101 of the
# engine's patterns failed before it when they came last but one, now 44; bench/client_extras.py). No two
# resources share a first path segment, so the order changes nothing else (tests/engine/test_root_api.py
# resolves every route to itself).
urlpatterns: list = [
    *task_runs.urlpatterns,
    *flow_runs.urlpatterns,
    *flow_run_inputs.urlpatterns,
    *logs.urlpatterns,
    *work_pools.urlpatterns,
    *root.urlpatterns,
    *flows.urlpatterns,
    *concurrency.urlpatterns,
    *events.urlpatterns,
    *deployments.urlpatterns,
    *artifacts.urlpatterns,
    *blocks.urlpatterns,
    *collections.urlpatterns,
    *variables.urlpatterns,
]
