"""Self-managed PostgreSQL on AWS: EC2 nodes with Patroni/etcd, S3 with Object Lock, an internal NLB."""
