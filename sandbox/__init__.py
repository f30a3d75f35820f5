"""The local stage: the data plane's rendered files run as real processes on loopback, plus drills.

Everything here runs the files `dataplane/` renders for the clouds, so what a drill proves is what a
cloud node runs; only what stands in for cloud services (the load balancer's health-checked routing is
HAProxy in both places, the object store is an S3 emulator, the secrets store is a 0600 env file) is
sandbox-specific.
"""
