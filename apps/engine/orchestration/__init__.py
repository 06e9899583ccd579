"""Engine orchestration, one module per resource."""
