"""Azure: the adapter the shared rules ask (`adapter.py`), the type tokens (`types.py`, the only place the pack
spells one) and the rule families of Azure's own services, collected by `rules.py`."""
