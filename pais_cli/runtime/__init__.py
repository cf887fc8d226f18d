"""Serving: engine choice, placement, endpoint manifests (plain Kubernetes and NIM Operator),
and listing what is deployed. Library only: the CLI in cli/endpoints.py renders the results."""
