"""Engine selectors, one module per resource."""
