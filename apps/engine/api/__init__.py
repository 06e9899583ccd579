"""The Prefect 2.20-compatible REST API served under /api/accounts/{a}/workspaces/{w}/."""
