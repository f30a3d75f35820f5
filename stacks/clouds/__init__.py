"""Facts about the clouds the platform deploys to, each defined once (region lists, zone names, identifier
and tag rules). Pure data and checks: importable without the cloud's SDK."""
