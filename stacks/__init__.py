"""Stage model: typed settings in, a derived topology (each value with its reason) out.

Only `stacks.config.load_settings` reads Pulumi config; everything else here is pure.
"""

from stacks.errors import SettingsError
from stacks.settings import Settings, parse_settings
from stacks.topology import Choice, Topology, derive_topology

__all__ = ["Choice", "Settings", "SettingsError", "Topology", "derive_topology", "parse_settings"]
