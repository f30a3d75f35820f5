"""pg-platform: load the stack's settings, derive the topology, build the platform, export what operators need."""

import pulumi

from components.engine_config import load_settings
from components.platform import PostgresPlatform
from stacks.topology import derive_topology

settings = load_settings()  # raises before any resource exists when the stack file is wrong
topology = derive_topology(settings)
platform = PostgresPlatform(settings.name, settings, topology)

pulumi.export("endpoint", platform.endpoint)
# For applications: routes with ports, a password-free URI per route, the CA to verify against, and where
# each application role's password lives (read it with the cloud's secrets CLI, never from the stack).
pulumi.export("endpoints", platform.client_access["endpoints"])
pulumi.export("connection_uris", platform.client_access["connection_uris"])
pulumi.export("ca_certificate", platform.ca_certificate)
pulumi.export("app_role_secret_ids", platform.app_role_secret_ids)
pulumi.export("backup_bucket", platform.bucket)
pulumi.export("restore_role_arn", platform.restore_role_arn)
# The roles `pgp --stack S --as DUTY` assumes (empty where the cloud has none yet).
pulumi.export("duty_role_arns", platform.duty_role_arns)
pulumi.export("dashboards", platform.grafana_url)
# Peers in other accounts or regions accept these and add their return routes.
pulumi.export("peering_connection_ids", platform.peering_connection_ids)
pulumi.export("topology", topology.as_dict())
# What runs where, for operators and `pgp` (the console reaches each member by its cloud id).
pulumi.export("inventory", platform.inventory)
