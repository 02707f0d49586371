"""The lobby's HTTP routes, one module per resource."""
