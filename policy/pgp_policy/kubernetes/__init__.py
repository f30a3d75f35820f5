"""Kubernetes (CloudNativePG): its adapter, type tokens and rule families. The shared HA, backup and alert rules
read its Clusters through pgp_policy/operators.py."""
