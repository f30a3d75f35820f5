"""Every GCP type token the pack reads, defined once (pulumi-gcp's `gcp:<module>/<type>:<Type>`)."""

from __future__ import annotations

CLOUD = "gcp"

# Compute Engine: machines and disks
INSTANCE = "gcp:compute/instance:Instance"
INSTANCE_TEMPLATE = "gcp:compute/instanceTemplate:InstanceTemplate"
REGION_INSTANCE_TEMPLATE = "gcp:compute/regionInstanceTemplate:RegionInstanceTemplate"
DISK = "gcp:compute/disk:Disk"

# VPC
NETWORK = "gcp:compute/network:Network"
SUBNETWORK = "gcp:compute/subnetwork:Subnetwork"
FIREWALL = "gcp:compute/firewall:Firewall"
ROUTER = "gcp:compute/router:Router"
ROUTER_NAT = "gcp:compute/routerNat:RouterNat"
NETWORK_PEERING = "gcp:compute/networkPeering:NetworkPeering"
ADDRESS = "gcp:compute/address:Address"

# Load balancing (internal passthrough Network Load Balancer)
INSTANCE_GROUP = "gcp:compute/instanceGroup:InstanceGroup"
HEALTH_CHECK = "gcp:compute/healthCheck:HealthCheck"
REGION_HEALTH_CHECK = "gcp:compute/regionHealthCheck:RegionHealthCheck"
REGION_BACKEND_SERVICE = "gcp:compute/regionBackendService:RegionBackendService"
FORWARDING_RULE = "gcp:compute/forwardingRule:ForwardingRule"

# Cloud Storage
BUCKET = "gcp:storage/bucket:Bucket"
BUCKET_IAM_MEMBER = "gcp:storage/bucketIAMMember:BucketIAMMember"

# Cloud KMS
KEY_RING = "gcp:kms/keyRing:KeyRing"
CRYPTO_KEY = "gcp:kms/cryptoKey:CryptoKey"
CRYPTO_KEY_IAM_MEMBER = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"

# Secret Manager
SECRET = "gcp:secretmanager/secret:Secret"
SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"
SECRET_IAM_MEMBER = "gcp:secretmanager/secretIamMember:SecretIamMember"

# IAM
SERVICE_ACCOUNT = "gcp:serviceaccount/account:Account"
SERVICE_ACCOUNT_IAM_MEMBER = "gcp:serviceaccount/iAMMember:IAMMember"
SERVICE_ACCOUNT_KEY = "gcp:serviceaccount/key:Key"
PROJECT_IAM_MEMBER = "gcp:projects/iAMMember:IAMMember"
CUSTOM_ROLE = "gcp:projects/iAMCustomRole:IAMCustomRole"
SERVICE_IDENTITY = "gcp:projects/serviceIdentity:ServiceIdentity"

# Cloud Monitoring
ALERT_POLICY = "gcp:monitoring/alertPolicy:AlertPolicy"
NOTIFICATION_CHANNEL = "gcp:monitoring/notificationChannel:NotificationChannel"

# Cloud DNS
MANAGED_ZONE = "gcp:dns/managedZone:ManagedZone"
RECORD_SET = "gcp:dns/recordSet:RecordSet"
