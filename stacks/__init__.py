"""Stage model: typed settings in, a derived topology (each value with its reason) out.

Pure: the program reads Pulumi config in `components.engine_config` and hands it to `parse_config` here.
"""

from stacks.errors import SettingsError
from stacks.settings import Settings, parse_settings
from stacks.topology import Choice, Topology, derive_topology

__all__ = ["Choice", "Settings", "SettingsError", "Topology", "derive_topology", "parse_settings"]
