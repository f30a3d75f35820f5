"""Pure renderers: from the derived topology and a cluster spec to the files every node gets.

No Pulumi here. The same output feeds cloud-init in the clouds and the sandbox on loopback.
"""
