"""Engine services, one module per resource."""
