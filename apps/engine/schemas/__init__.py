"""Engine schemas, one module per resource."""
