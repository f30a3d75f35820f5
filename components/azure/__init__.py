"""Azure: the roles of components.contracts on Azure networking, Blob Storage, Key Vault, managed identities,
virtual machines and Azure Monitor (pulumi-azure-native)."""

from components.azure.platform import build

__all__ = ["build"]
