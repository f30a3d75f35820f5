"""cloud-init user data for database members (`member`) and the monitoring node (`monitoring`).

The boot is the same on every cloud except where `cloud.BootCloud` says otherwise: each cloud implements it in
one module (`aws.AwsBoot`). Everything must fit the cloud's user-data limit with room to grow
(`cloud_config.USER_DATA_BUDGET`).
"""
