"""Routes of one workspace's engine, mounted under /api/accounts/{account_id}/workspaces/{workspace_id}/.

Each resource module under apps/engine/api/ exposes its own `urlpatterns`; list it here.
"""

from apps.engine.api import blocks, collections, events

urlpatterns: list = [
    *blocks.urlpatterns,
    *collections.urlpatterns,
    *events.urlpatterns,
]
