"""What a node's boot step takes from its secrets store, here from the sandbox's env file and the emulator."""

from __future__ import annotations

from dataplane import pgbackrest as pgbackrest_render
from dataplane.model import SECRET_ENV
from sandbox import secrets as sandbox_secrets
from sandbox.layout import SandboxLayout
from sandbox.services.azurite import account_sas
from sandbox.services.gcs import EMULATOR_TOKEN
from sandbox.services.s3 import EMULATOR_ACCESS_KEY, EMULATOR_SECRET_KEY


def secret_values(layout: SandboxLayout) -> dict[str, str]:
    """secret name -> value: SECRET_ENV's generated passwords plus the emulators' credentials (S3 shared keys, a
    SAS for Azurite's account, a bearer token for fake-gcs-server), under the names repo_environment asks for."""
    env_values = sandbox_secrets.load_or_create(layout.secrets_file)
    by_name = {name: env_values[env] for name, env in SECRET_ENV.items()}
    for index in layout.shared_key_repositories:
        by_name[f"repo{index}-s3-key"] = EMULATOR_ACCESS_KEY
        by_name[f"repo{index}-s3-key-secret"] = EMULATOR_SECRET_KEY
    if layout.azure_repository is not None:
        by_name[f"repo{layout.repository_index('azure')}-azure-key"] = account_sas()
    if layout.gcs_repository is not None:
        by_name[f"repo{layout.repository_index('gcs')}-gcs-key"] = EMULATOR_TOKEN
    return by_name


def node_environment(layout: SandboxLayout) -> dict[str, str]:
    """What a node's boot step writes into Paths.secrets_env from its secrets store: every SECRET_ENV
    variable and the repositories' variables. Units (and the backup cron) load exactly this."""
    values = secret_values(layout)
    wanted = {var: name for name, var in SECRET_ENV.items()} | pgbackrest_render.repo_environment(layout.spec)
    return {var: values[name] for var, name in wanted.items()}
