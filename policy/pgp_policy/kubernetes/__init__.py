"""Kubernetes (CloudNativePG): its type tokens. Not a cloud of the pack yet (no adapter, no family of its own):
the shared rules read its Clusters through pgp_policy/operators.py."""
