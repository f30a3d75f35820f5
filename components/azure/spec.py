"""Where Azure keeps a stage's backups and how its ARM ids and fixed addresses are spelt: pure functions of the
settings, the topology and the subscription, so every name is known before any resource exists."""

from __future__ import annotations

import base64
import gzip
import hashlib
import ipaddress

from components.spec import cluster_spec
from dataplane.model import AzureRepository, ClusterSpec
from stacks.clouds.azure import AUTONAME_RANDOM_CHARS, SUBNET_RESERVED_FIRST, storage_account_logical_name
from stacks.settings import Settings
from stacks.topology import Topology

BACKUP_CONTAINER = "pgbackrest"
BLOB_ENDPOINT = "blob.core.windows.net"
BLOB_PRIVATE_ZONE = f"privatelink.{BLOB_ENDPOINT}"
# The load balancer's frontend: the first address after the ones Azure reserves, below the members' (tenth on).
FRONTEND_HOST_OFFSET = SUBNET_RESERVED_FIRST + 1


def resource_group_name(settings: Settings) -> str:
    """One resource group per stage, named like the stage so operators find it (`az group show -n pgp-prod`)."""
    return settings.name


def backup_account_name(settings: Settings, subscription_id: str) -> str:
    """Storage account names are global: a digest of the subscription and location takes the place of the random
    suffix pulumi-azure-native would append, so the name is unique, fits the same 24 characters, and is known to
    pgBackRest (and to a restore) before the account exists."""
    digest = hashlib.sha256(f"{subscription_id.lower()}/{settings.region}".encode()).hexdigest()
    return storage_account_logical_name(settings.stage) + digest[:AUTONAME_RANDOM_CHARS]


def azure_repository(settings: Settings, subscription_id: str) -> AzureRepository:
    # key_type auto: pgBackRest takes a token for the VM's managed identity from the metadata service, so no
    # account key or SAS exists anywhere (the account refuses shared keys).
    return AzureRepository(
        path=f"/{settings.name}",
        account=backup_account_name(settings, subscription_id),
        container=BACKUP_CONTAINER,
        endpoint=BLOB_ENDPOINT,
        uri_style="host",
        key_type="auto",
    )


def azure_cluster_spec(settings: Settings, topology: Topology, subscription_id: str) -> ClusterSpec:
    return cluster_spec(settings, topology, azure_repository(settings, subscription_id))


def frontend_address(subnet_cidr: str) -> str:
    """The load balancer's fixed private address in the first zone's subnet: the endpoint's A record never
    changes, even when the load balancer is replaced."""
    return str(ipaddress.ip_network(subnet_cidr)[FRONTEND_HOST_OFFSET])


def arm_id(subscription_id: str, group: str, provider_path: str) -> str:
    return f"/subscriptions/{subscription_id}/resourceGroups/{group}/providers/{provider_path}"


def role_definition_id(subscription_id: str, role: str) -> str:
    return f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{role}"


# Built-in role definitions (Microsoft Learn, "Azure built-in roles"): the ids are the same in every tenant.
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
STORAGE_BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER = "e147488a-f6f5-4113-8e2d-b22465e65bf6"


def compress_custom_data(text: str) -> str:
    """cloud-init reads gzip custom data as it reads gzip user data on EC2; compressed, the rendered files stay
    well under Azure's 64 KiB. mtime=0 keeps the bytes, and so the plan, deterministic."""
    return base64.b64encode(gzip.compress(text.encode(), mtime=0)).decode()
