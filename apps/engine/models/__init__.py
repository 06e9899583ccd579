"""The orchestration engine's models, one module per resource; every one is workspace-scoped."""
