"""cloud-init user data for database members and the monitoring node.

User data carries configuration and secret *ARNs* only (CKV_AWS_46). At first boot a member:
1. fetches PGDG's signing key over HTTPS and trusts it only if it is the pinned key (bootcmd);
2. installs PostgreSQL (PGDG, for any supported major), pgaudit, etcd, pgBackRest (pinned to one version),
   PgBouncer and the exporters with their services held back (policy-rc.d, no Debian "main" cluster), and
   Patroni pinned in a venv;
3. writes the rendered files (`node_files`, identical to the sandbox's), systemd units and cron files;
4. runs the boot script: fetch every secret with the instance role from Secrets Manager into a 0600
   environment file, write its TLS bundle, mount the data volume, then start the units in order.

The monitoring node installs Prometheus, Alertmanager and Grafana, mounts its data volume under their state
and writes Alertmanager's configuration at every boot from a template and the webhook URLs in Secrets Manager.
Both kinds get the SSM agent. Everything must fit EC2's 16 KiB with room to grow (USER_DATA_BUDGET).
"""
from __future__ import annotations

import inspect
import json
import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Mapping, Sequence

import yaml

from dataplane import alertmanager, exporters, grafana, operations, pgbouncer
from dataplane.alertmanager import ReceiverLike
from dataplane.model import SECRET_ENV, ClusterSpec, Member
from dataplane.node_files import (etcd_config_path, node_file_mode, node_files, render_secret_files_commands)
from dataplane.patroni import config_path as patroni_config_path
from dataplane.pgbackrest import needs_tls_server, render_backup_cron, repo_environment, server_command
from dataplane.prometheus import ScrapeTargets, render_alert_rules, render_prometheus_config
from dataplane.tls import TlsFiles, tls_files
from stacks.clouds.aws import EC2_USER_DATA_LIMIT
from stacks.ports import PORTS

PATRONI_VERSION = "4.1.5"
# Rendered (gzipped) user data may use at most USER_DATA_BUDGET of EC2's limit, so a stack with longer names,
# more receivers or another file still fits.
USER_DATA_BUDGET = 0.75
# apt.postgresql.org signing key: Debian's own PostgreSQL is 15 only; PGDG carries 14-17 for bookworm.
PGDG_KEY_FINGERPRINT = "B97B0AFCAA1A47F044F244A07FCC7D46ACCC4CF8"
DEBIAN_SUITE = "bookworm"
BOOT_SCRIPT = "/usr/local/sbin/pgp-boot"
UNIT_PREFIX = "pgp-"
SERVICE_USER = "postgres"


@dataclass(frozen=True)
class NodeBoot:
    """What a member needs from the cloud at boot; ARNs only, never values."""
    region: str
    secret_arns: Mapping[str, str]                 # SECRET_ENV name -> Secrets Manager ARN
    tls_secret_arns: Mapping[str, str]             # member name -> ARN of its TLS bundle (JSON, TlsFiles keys)
    bucket: str | None = None                      # checked against the spec's S3 repository
    kms_key_id: str | None = None                  # SSE-KMS key for pgBackRest uploads (repo-s3-kms-key-id)
    data_mount: str = "/var/lib/postgresql"        # the data volume's mount point (holds Paths.data_dir)
    patroni_version: str = PATRONI_VERSION


@dataclass(frozen=True)
class MonitoringBoot:
    region: str
    smtp_smarthost: str | None = None
    smtp_from: str | None = None
    ca_cert_pem: str | None = None                 # the cluster CA (public), to verify Patroni's /metrics
    # receiver name -> ARN of the secret holding its webhook URL (the URL carries a token: fetched at boot)
    webhook_secret_arns: Mapping[str, str] = field(default_factory=dict)
    data_mount: str = "/var/lib/prometheus"        # the data volume: Prometheus' TSDB and Alertmanager's state


def packages(spec: ClusterSpec) -> list[str]:
    major = spec.topology.postgres_major
    return [f"postgresql-{major}", f"postgresql-{major}-pgaudit", "etcd-server", "etcd-client", "pgbackrest",
            "pgbouncer", "prometheus-postgres-exporter", "prometheus-node-exporter", "python3-venv",
            "python3-boto3", "curl", "cron", "openssl", "e2fsprogs"]


def _unit(description: str, exec_start: Sequence[str] | Sequence[Sequence[str]], *, user: str = SERVICE_USER,
          after: Sequence[str] = (), requires: Sequence[str] = (), env_files: Sequence[str] = (),
          kind: str = "simple", extra: Sequence[str] = (), unit_extra: Sequence[str] = ()) -> str:
    commands = [exec_start] if isinstance(exec_start[0], str) else exec_start
    lines = ["[Unit]", f"Description={description}", "Wants=network-online.target",
             f"After=network-online.target {' '.join(after)}".rstrip()]
    lines += [f"Requires={' '.join(requires)}"] if requires else []
    lines += list(unit_extra)
    lines += ["", "[Service]", f"Type={kind}", f"User={user}", f"Group={user}"]
    lines += [f"EnvironmentFile={f}" for f in env_files]
    # systemd expands $ and % in command lines: double them so arguments (regexes) reach the program intact.
    lines += ["ExecStart=" + shlex.join(c).replace("$", "$$").replace("%", "%%") for c in commands]
    if kind == "oneshot":
        lines.append("RemainAfterExit=yes")
    else:
        lines += ["Restart=on-failure", "RestartSec=2"]
    lines += list(extra)
    lines += ["", "[Install]", "WantedBy=multi-user.target", ""]
    return "\n".join(lines)


def system_units(spec: ClusterSpec, member: Member) -> dict[str, str]:
    """systemd unit name -> content, in start order."""
    paths = spec.paths_for(member)
    secrets = paths.secrets_env
    units = {
        f"{UNIT_PREFIX}etcd.service": _unit(
            f"etcd member {member.name} of {spec.scope}", ["/usr/bin/etcd", "--config-file",
                                                           etcd_config_path(spec, member)],
            extra=["LimitNOFILE=65536"]),
        f"{UNIT_PREFIX}secrets.service": _unit(
            "fill boot-time templates from the secrets environment", render_secret_files_commands(spec, member),
            env_files=[secrets], kind="oneshot"),
        f"{UNIT_PREFIX}patroni.service": _unit(
            f"Patroni member {member.name} of {spec.scope}", [paths.patroni_bin, patroni_config_path(spec, member)],
            after=[f"{UNIT_PREFIX}etcd.service"], env_files=[secrets],
            # fstab mounts the data volume `nofail`, which orders nothing: without this, a reboot could start
            # Patroni on an empty directory of the root disk before the volume is mounted over it.
            unit_extra=[f"RequiresMountsFor={paths.data_dir}"],
            # Patroni stops PostgreSQL itself; killing the whole cgroup would skip its clean shutdown.
            extra=["KillMode=process", "TimeoutStopSec=120", "ExecReload=/bin/kill -HUP $MAINPID"]),
        f"{UNIT_PREFIX}pgbouncer.service": _unit(
            f"PgBouncer on {member.name}", ["/usr/sbin/pgbouncer", pgbouncer.config_path(spec, member)],
            after=[f"{UNIT_PREFIX}secrets.service"], requires=[f"{UNIT_PREFIX}secrets.service"],
            extra=["ExecReload=/bin/kill -HUP $MAINPID", "LimitNOFILE=65536"]),
        f"{UNIT_PREFIX}postgres-exporter.service": _unit(
            f"postgres_exporter on {member.name}",
            ["/usr/bin/prometheus-postgres-exporter", *exporters.postgres_exporter_args(spec, member)],
            after=[f"{UNIT_PREFIX}secrets.service"], requires=[f"{UNIT_PREFIX}secrets.service"],
            env_files=[exporters.env_file_path(spec, member)]),
        f"{UNIT_PREFIX}node-exporter.service": _unit(
            f"node_exporter on {member.name}",
            ["/usr/bin/prometheus-node-exporter", *exporters.node_exporter_args(spec, member)], user="prometheus"),
    }
    if needs_tls_server(spec, member):
        units[f"{UNIT_PREFIX}pgbackrest-server.service"] = _unit(
            f"pgBackRest TLS server on {member.name}", shlex.split(server_command(spec, member)))
    return units


def _tmpfiles(spec: ClusterSpec, member: Member) -> str:
    paths = spec.paths_for(member)
    # The run directory is traversable (0711) so node_exporter's user reaches its textfile directory; the
    # sockets inside keep their own 0770 permissions.
    return "\n".join([
        f"d {paths.run_dir} 0711 {SERVICE_USER} {SERVICE_USER} -",
        f"d {exporters.textfile_dir(spec, member)} 0755 {SERVICE_USER} {SERVICE_USER} -",
        f"d {paths.pgbackrest_lock_dir} 0750 {SERVICE_USER} {SERVICE_USER} -",
    ]) + "\n"


def _boot_config(spec: ClusterSpec, member: Member, boot: NodeBoot) -> dict:
    if member.name not in boot.tls_secret_arns:
        raise ValueError(f"no TLS secret ARN for member {member.name}")
    env_arns: dict[str, str] = {}
    wanted = {var: name for name, var in SECRET_ENV.items()} | repo_environment(spec)
    for var, name in wanted.items():
        if name not in boot.secret_arns:
            raise ValueError(f"no secret ARN for {name!r} (environment variable {var})")
        env_arns[var] = boot.secret_arns[name]
    paths = spec.paths_for(member)
    tls = tls_files(spec, member)
    if not paths.data_dir.startswith(boot.data_mount.rstrip("/") + "/"):
        raise ValueError(f"data_dir {paths.data_dir} is not on the data volume mounted at {boot.data_mount}")
    dirs = [(paths.config_dir, "0750"), (str(PurePosixPath(tls.key).parent), "0700"), (paths.log_dir, "0750"),
            (f"{paths.log_dir}/postgresql", "0750"), (f"{paths.log_dir}/patroni", "0750"),
            (f"{paths.log_dir}/pgbackrest", "0750"), (paths.pgbackrest_spool_dir, "0750"),
            (paths.etcd_data_dir, "0700"), (boot.data_mount, "0750")]
    return {
        "region": boot.region,
        "env_arns": env_arns,
        "tls_arn": boot.tls_secret_arns[member.name],
        "tls_files": {f: getattr(tls, f) for f in TlsFiles.__dataclass_fields__},
        "secrets_env": paths.secrets_env,
        "data_mount": boot.data_mount,
        "dirs": dirs,
        "user": SERVICE_USER,
        "units": list(system_units(spec, member)),
    }


# The one attached disk without partitions or a mount, formatted on first boot only (database and monitoring
# nodes alike): what survives a deliberate replacement of the instance.
_DATA_VOLUME = r'''
def mount_data_volume(mount, label):
    os.makedirs(mount, exist_ok=True)
    if subprocess.run(["mountpoint", "-q", mount]).returncode == 0:
        return
    # The volume is attached once the instance exists, so it may appear a little after boot.
    for _ in range(60):
        disks = json.loads(subprocess.run(["lsblk", "-J", "-o", "NAME,TYPE,MOUNTPOINT"], check=True,
                                          capture_output=True, text=True).stdout)["blockdevices"]
        free = [d for d in disks if d["type"] == "disk" and not d.get("children") and not d.get("mountpoint")]
        if free:
            break
        time.sleep(5)
    if len(free) != 1:
        sys.exit(f"expected exactly one unused data disk, found {[d['name'] for d in free]}")
    device = "/dev/" + free[0]["name"]
    probe = subprocess.run(["blkid", "-o", "value", "-s", "TYPE", device], capture_output=True, text=True)
    if not probe.stdout.strip():
        subprocess.run(["mkfs.ext4", "-q", "-L", label, device], check=True)
    uuid = subprocess.run(["blkid", "-o", "value", "-s", "UUID", device], check=True, capture_output=True,
                          text=True).stdout.strip()
    with open("/etc/fstab", "a") as fstab:
        fstab.write(f"UUID={uuid} {mount} ext4 defaults,noatime,nofail 0 2\n")
    subprocess.run(["mount", mount], check=True)
'''


_BOOT_SCRIPT = r'''
import json, os, pwd, re, subprocess, sys, time
''' + _DATA_VOLUME + r'''

CONFIG = json.loads(CONFIG_JSON)


def service_user():
    return pwd.getpwnam(CONFIG["user"])


def own(path, mode):
    user = service_user()
    os.chown(path, user.pw_uid, user.pw_gid)
    os.chmod(path, mode)


def write_private(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, data.encode())
    os.close(fd)
    own(path, 0o600)


def data_volume():
    mount_data_volume(CONFIG["data_mount"], "pgdata")


def directories():
    for path, mode in CONFIG["dirs"]:
        os.makedirs(path, exist_ok=True)
        own(path, int(mode, 8))
        # Packages create some parents private to their own user (/var/lib/etcd is etcd's, 0700); the
        # service user only needs to pass through them, so add search permission, never read.
        parent = os.path.dirname(path)
        while parent not in ("", "/"):
            st = os.stat(parent)
            if not st.st_mode & 0o001:
                os.chmod(parent, (st.st_mode & 0o7777) | 0o001)
            parent = os.path.dirname(parent)


def secrets():
    # Fetched with the instance role, written once to a 0600 file the units read; never printed.
    import boto3
    client = boto3.client("secretsmanager", region_name=CONFIG["region"])
    lines = []
    for var, arn in sorted(CONFIG["env_arns"].items()):
        value = client.get_secret_value(SecretId=arn)["SecretString"]
        # Single-quoted values mean the same to systemd's EnvironmentFile= and to sh (cron's `. file`).
        if not value or re.search(r"['\"\\\n$`]", value):
            sys.exit(f"secret for {var} is empty or holds characters an environment file cannot carry")
        lines.append(f"{var}='{value}'")
    write_private(CONFIG["secrets_env"], "\n".join(lines) + "\n")
    bundle = json.loads(client.get_secret_value(SecretId=CONFIG["tls_arn"])["SecretString"])
    for field, path in CONFIG["tls_files"].items():
        write_private(path, bundle[field])


def units():
    subprocess.run(["systemd-tmpfiles", "--create"], check=True)
    subprocess.run(["systemctl", "daemon-reload"], check=True)
    subprocess.run(["systemctl", "enable", *CONFIG["units"]], check=True)
    for unit in CONFIG["units"]:
        subprocess.run(["systemctl", "start", unit], check=True)


STEPS = {"data": data_volume, "dirs": directories, "secrets": secrets, "units": units}
for step in sys.argv[1:] or STEPS:
    STEPS[step]()
'''


def render_boot_script(spec: ClusterSpec, member: Member, boot: NodeBoot) -> str:
    config = json.dumps(_boot_config(spec, member, boot), sort_keys=True)
    return ("#!/usr/bin/python3\n# rendered by pg-platform dataplane; do not edit\n"
            f"CONFIG_JSON = {config!r}\n" + _BOOT_SCRIPT)


class _CloudConfigDumper(yaml.SafeDumper):
    """Multi-line strings (file contents, scripts) as literal blocks: readable in the console and a few hundred
    bytes smaller compressed than escaped double-quoted strings. PyYAML falls back to quoting where a literal
    block could not carry the string exactly."""


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data else None)


_CloudConfigDumper.add_representer(str, _str)


def dump_cloud_config(doc: dict) -> str:
    text = yaml.dump(doc, Dumper=_CloudConfigDumper, sort_keys=False, width=1000)
    if yaml.safe_load(text) != doc:
        raise ValueError("the cloud-config does not read back as rendered")
    return text


def _file(path: str, content: str, mode: int, owner: str = "root:root", defer: bool = True) -> dict:
    entry = {"path": path, "content": content, "permissions": f"0{mode:o}", "owner": owner}
    if defer:
        # Written after the packages are installed, so the service user exists.
        entry["defer"] = True
    return entry


def with_boot_repositories(spec: ClusterSpec, boot: NodeBoot) -> ClusterSpec:
    """The KMS key exists only once the vault is created, so it arrives with the boot data, not the spec."""
    repos = []
    for repo in spec.repositories:
        if repo.kind == "s3":
            if boot.bucket and repo.bucket != boot.bucket:
                raise ValueError(f"boot bucket {boot.bucket!r} is not the repository's bucket {repo.bucket!r}")
            if boot.kms_key_id and not repo.kms_key_id:
                repo = replace(repo, kms_key_id=boot.kms_key_id)
        repos.append(repo)
    return replace(spec, repositories=tuple(repos))


def render_node_user_data(spec: ClusterSpec, member: Member, boot: NodeBoot) -> str:
    spec = with_boot_repositories(spec, boot)
    paths = spec.paths_for(member)
    files = [
        # Before any package: Debian must neither start services with vendor configs (ports clash with ours)
        # nor create its own "main" PostgreSQL cluster.
        _file("/usr/sbin/policy-rc.d", "#!/bin/sh\nexit 101\n", 0o755, defer=False),
        _file("/etc/postgresql-common/createcluster.conf", "create_main_cluster = false\n", 0o644, defer=False),
        # Before any package, so the first install already takes the pinned version.
        _file(APT_PIN_FILE, render_apt_pin("pgbackrest", PGBACKREST_VERSION), 0o644, defer=False),
    ]
    files += [_file(path, content, node_file_mode(spec, member, path), f"{SERVICE_USER}:{SERVICE_USER}")
              for path, content in node_files(spec, member).items()]
    files += [_file(f"/etc/systemd/system/{name}", text, 0o644) for name, text in system_units(spec, member).items()]
    files += [
        _file("/etc/tmpfiles.d/pg-platform.conf", _tmpfiles(spec, member), 0o644),
        _file("/etc/cron.d/pgp-backup", render_backup_cron(spec, member, SERVICE_USER), 0o644),
        _file("/etc/cron.d/pgp-node-metrics", exporters.render_node_metrics_cron(spec, member, SERVICE_USER), 0o644),
        _file(BOOT_SCRIPT, render_boot_script(spec, member, boot), 0o700),
        _file(CLOUDWATCH_AGENT_CONFIG, render_cloudwatch_agent_config(boot), 0o644),
        *(_file(path, text, 0o700) for path, text in operations.operation_scripts(spec, member).items()),
    ]
    venv = str(PurePosixPath(paths.patroni_bin).parent.parent)
    vendor_units = ["etcd", "pgbouncer", "prometheus-postgres-exporter", "prometheus-node-exporter", "postgresql"]
    doc = {
        "bootcmd": [pgdg_key_command()],
        "apt": apt_config(),
        "package_update": True,
        "packages": packages(spec),
        "write_files": files,
        "runcmd": [
            ["rm", "-f", "/usr/sbin/policy-rc.d"],
            ["systemctl", "disable", "--now", *vendor_units],
            ["/usr/bin/python3", "-m", "venv", venv],
            [f"{venv}/bin/pip", "install", "--no-cache-dir", f"patroni[etcd3,psycopg3]=={boot.patroni_version}"],
            *aws_agent_commands(boot.region),
            [BOOT_SCRIPT],
        ],
    }
    header = (f"#cloud-config\n# pg-platform member {member.name} of {spec.scope}: rendered by dataplane; "
              f"secrets arrive as ARNs and are fetched at boot\n")
    return header + dump_cloud_config(doc)


# Nodes reach the internet on 443 only: every package source is HTTPS, and no hkp keyserver (port 11371) is
# used. PGDG's signing key is fetched over HTTPS at first boot and trusted only if it is exactly the pinned key
# (the copy in keys/, vendored from Debian's postgresql-common, lets the tests check the pin offline); it used to
# travel in the user data, where it took a quarter of EC2's 16 KiB.
DEBIAN_MIRROR = "https://cdn-aws.deb.debian.org/debian"
DEBIAN_SECURITY_MIRROR = "https://cdn-aws.deb.debian.org/debian-security"
PGDG_KEY_FILE = Path(__file__).resolve().parent / "keys" / "apt.postgresql.org.asc"
PGDG_KEY_URL = "https://www.postgresql.org/media/keys/ACCC4CF8.asc"
PGDG_KEYRING = "/etc/apt/keyrings/pgdg.asc"
PGDG_REPOSITORY = "https://apt.postgresql.org/pub/repos/apt"
# PGDG's index lists only the newest build of each package; older ones move to the archive (same key). With it a
# node replaced after PGDG moved on still finds the pinned pgBackRest.
PGDG_ARCHIVE = "https://apt-archive.postgresql.org/pub/repos/apt"

# pgBackRest, pinned: every member must run the same version (pgBackRest's protocol greeting refuses a peer of
# another version, so backups from a standby through the TLS server would fail on a member replaced later), and
# uploads must keep working against the Object Lock bucket. 2.55.0 sent Content-MD5 only where it believed S3
# required it, and S3 refuses a PUT under Object Lock without it (pgbackrest#2613); 2.55.1 reverted that
# (pgbackrest#2615). Releases before and after it send Content-MD5 with every upload.
PGBACKREST_VERSION = "2.59.1"
PGBACKREST_BROKEN_VERSIONS = ("2.55.0",)
APT_PIN_FILE = "/etc/apt/preferences.d/pg-platform.pref"


def debian_mirrors() -> dict:
    return {"primary": [{"arches": ["default"], "uri": DEBIAN_MIRROR}],
            "security": [{"arches": ["default"], "uri": DEBIAN_SECURITY_MIRROR}]}


def apt_config() -> dict:
    signed = f"deb [signed-by={PGDG_KEYRING}]"
    return {
        **debian_mirrors(),
        "sources": {
            "pgdg": {"source": f"{signed} {PGDG_REPOSITORY} {DEBIAN_SUITE}-pgdg main"},
            "pgdg-archive": {"source": f"{signed} {PGDG_ARCHIVE} {DEBIAN_SUITE}-pgdg-archive main"},
        },
    }


def render_apt_pin(package: str, version: str) -> str:
    """apt preferences: exactly `version` (any Debian revision of it) and nothing else, from any source."""
    return (f"Explanation: pg-platform: every node runs {package} {version}\n"
            f"Package: {package}\nPin: version {version}-*\nPin-Priority: 1001\n\n"
            f"Explanation: pg-platform: no other {package} version, newer or older\n"
            f"Package: {package}\nPin: version *\nPin-Priority: -1\n")


# Run by bootcmd (before apt is configured) with the key's URL, the pinned fingerprint and the keyring path. The
# file is written only if it holds exactly one primary key, an OpenPGP v4 key whose fingerprint is the pinned
# one (subkeys count only through that key's signatures); anything else stops before apt trusts it.
_KEY_FETCH = r'''
import base64, hashlib, os, sys, time, urllib.request
url, pinned, dest = sys.argv[1:4]
def need(ok, why):
    ok or sys.exit(f"pg-platform: key from {url} rejected: {why}")
need(url.startswith("https://"), "not https")
for attempt in range(6):
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            text = response.read().decode("ascii")
        break
    except OSError as exc:
        need(attempt < 5, exc)
        time.sleep(2 ** attempt)
lines = [line.strip() for line in text.strip().splitlines()]
need(lines[0] == "-----BEGIN PGP PUBLIC KEY BLOCK-----" and lines[-1] == "-----END PGP PUBLIC KEY BLOCK-----"
     and "" in lines, "not one armored public key block")
data = base64.b64decode("".join(l for l in lines[lines.index("") + 1:-1] if not l.startswith("=")), validate=True)
primaries, i = [], 0
while i < len(data):
    head = data[i]
    need(head & 0x80, "not an OpenPGP packet")
    if head & 0x40:
        tag, n = head & 0x3F, data[i + 1]
        need(n < 224 or n == 255, "partial packet length")
        size, i = ((n, i + 2) if n < 192 else (((n - 192) << 8) + data[i + 2] + 192, i + 3) if n < 224
                   else (int.from_bytes(data[i + 2:i + 6], "big"), i + 6))
    else:
        tag, width = head >> 2 & 0x0F, 1 << (head & 3)
        need(width < 8, "indeterminate packet length")
        size, i = int.from_bytes(data[i + 1:i + 1 + width], "big"), i + 1 + width
    body, i = data[i:i + size], i + size
    need(len(body) == size, "truncated")
    if tag == 6:
        need(body[0] == 4, "not an OpenPGP v4 key")
        primaries.append(hashlib.sha1(b"\x99" + size.to_bytes(2, "big") + body).hexdigest().upper())
need(primaries == [pinned.upper()], f"primary keys {primaries}, expected exactly {pinned}")
os.makedirs(os.path.dirname(dest), mode=0o755, exist_ok=True)
with open(dest + ".tmp", "w") as out:
    out.write(text)
os.chmod(dest + ".tmp", 0o644)
os.replace(dest + ".tmp", dest)
'''


def pgdg_key_command() -> list[str]:
    """bootcmd entry: once per instance, before cloud-init configures apt with the PGDG sources."""
    return ["cloud-init-per", "instance", "pgdg-key", "/usr/bin/python3", "-c", _KEY_FETCH, PGDG_KEY_URL,
            PGDG_KEY_FINGERPRINT, PGDG_KEYRING]


# The SSM agent (post-provision steps, operator sessions) and the CloudWatch agent (the free-disk alarm, which
# still pages when the monitoring node is down) are not in Debian; AWS ships both as .debs in regional S3
# buckets, which the nodes reach through the S3 gateway endpoint.
def aws_agent_debs(region: str) -> dict[str, str]:
    return {
        "amazon-ssm-agent": f"https://s3.{region}.amazonaws.com/amazon-ssm-{region}/latest/debian_amd64/"
                            "amazon-ssm-agent.deb",
        "amazon-cloudwatch-agent": f"https://amazoncloudwatch-agent-{region}.s3.{region}.amazonaws.com/debian/amd64/"
                                   "latest/amazon-cloudwatch-agent.deb",
    }


CLOUDWATCH_AGENT_CONFIG = "/opt/aws/amazon-cloudwatch-agent/etc/pg-platform.json"
CLOUDWATCH_NAMESPACE = "CWAgent"
CLOUDWATCH_DISK_METRIC = "disk_used_percent"


def render_cloudwatch_agent_config(boot: NodeBoot) -> str:
    """disk used_percent of the data volume, aggregated to exactly the dimensions the alarm names
    (InstanceId, path), once a minute."""
    return json.dumps({
        "agent": {"metrics_collection_interval": 60, "run_as_user": "cwagent"},
        "metrics": {
            "namespace": CLOUDWATCH_NAMESPACE,
            "append_dimensions": {"InstanceId": "${aws:InstanceId}"},
            "aggregation_dimensions": [["InstanceId", "path"]],
            "metrics_collected": {"disk": {"measurement": ["used_percent"], "resources": [boot.data_mount],
                                           "drop_device": True}},
        },
    }, indent=1, sort_keys=True)


def aws_agent_commands(region: str, cloudwatch: bool = True) -> list[list[str]]:
    """Install the SSM agent (every node: post-provision, shell access, the `dashboards` port forward) and, on
    the database nodes, the CloudWatch agent, from AWS's regional buckets through the S3 gateway endpoint."""
    debs = aws_agent_debs(region)
    names = ["amazon-ssm-agent"] + (["amazon-cloudwatch-agent"] if cloudwatch else [])
    commands = []
    for name in names:
        deb = f"/var/cache/{name}.deb"
        commands += [["curl", "-fsSL", "--proto", "=https", "--retry", "5", "-o", deb, debs[name]],
                     ["apt-get", "install", "-y", deb]]
    commands.append(["systemctl", "enable", "--now", "amazon-ssm-agent"])
    if cloudwatch:
        commands.append(["/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl", "-a", "fetch-config",
                         "-m", "ec2", "-s", "-c", f"file:{CLOUDWATCH_AGENT_CONFIG}"])
    return commands


# Alertmanager on the monitoring node reads a configuration written at every boot from the template in the user
# data and the webhook URLs in Secrets Manager (alertmanager.fill_webhook_urls, the function the sandbox's
# configuration goes through too); Alertmanager does not start without it.
ALERTMANAGER_CONFIG = "/etc/prometheus/alertmanager.yml"
ALERTMANAGER_TEMPLATE = "/etc/prometheus/alertmanager.yml.tmpl"
ALERTMANAGER_WEBHOOKS = "/etc/prometheus/pg-platform-webhooks.json"
ALERTMANAGER_FILL = "/usr/local/sbin/pgp-alertmanager-config"
ALERTMANAGER_FILL_UNIT = f"{UNIT_PREFIX}alertmanager-config.service"
MONITORING_SERVICES = ("prometheus", "prometheus-alertmanager")
DATA_VOLUME_SCRIPT = "/usr/local/sbin/pgp-data-volume"

_ALERTMANAGER_FILL_MAIN = r'''

def secret(client, arn):
    for attempt in range(6):
        try:
            return client.get_secret_value(SecretId=arn)["SecretString"].strip()
        except Exception:   # credentials or the endpoint not there yet; the value is never printed
            if attempt == 5:
                raise
            time.sleep(2 ** attempt)


boot = json.load(open(sys.argv[1]))
with open(boot["template"]) as f:
    template = yaml.safe_load(f)
urls = {}
if boot["webhooks"]:
    import boto3
    client = boto3.client("secretsmanager", region_name=boot["region"])
    urls = {name: secret(client, arn) for name, arn in sorted(boot["webhooks"].items())}
try:
    config = fill_webhook_urls(template, urls)
except ValueError as exc:
    sys.exit(f"pg-platform: {exc}")
tmp = boot["config"] + ".tmp"
with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
    out.write(f"# filled at boot from {boot['template']} and Secrets Manager; do not edit\n")
    out.write(yaml.safe_dump(config, sort_keys=False, width=1000))
os.chown(tmp, 0, grp.getgrnam(boot["group"]).gr_gid)
os.chmod(tmp, 0o640)
os.replace(tmp, boot["config"])
'''


def render_alertmanager_fill_script() -> str:
    return ("#!/usr/bin/python3\n# rendered by pg-platform dataplane: Alertmanager's configuration from its template and\n"
            "# the webhook URLs in Secrets Manager; the file it writes is 0640 root:prometheus\n"
            "import grp, json, os, sys, time\nfrom typing import Mapping\n\nimport yaml\n\n\n" + inspect.getsource(alertmanager.fill_webhook_urls)
            + _ALERTMANAGER_FILL_MAIN)


def render_alertmanager_fill_unit() -> str:
    return "\n".join([
        "[Unit]", "Description=Alertmanager configuration: template and webhook URLs from Secrets Manager",
        "Wants=network-online.target", "After=network-online.target", "Before=prometheus-alertmanager.service", "",
        "[Service]", "Type=oneshot", f"ExecStart={ALERTMANAGER_FILL} {ALERTMANAGER_WEBHOOKS}", "RemainAfterExit=yes", "",
        "[Install]", "WantedBy=multi-user.target", ""])


def render_data_volume_script() -> str:
    return ("#!/usr/bin/python3\n# rendered by pg-platform dataplane: pgp-data-volume MOUNT LABEL OWNER\n"
            "import json, os, pwd, subprocess, sys, time\n" + _DATA_VOLUME + r'''
mount, label, owner = sys.argv[1:4]
mount_data_volume(mount, label)
user = pwd.getpwnam(owner)
os.chown(mount, user.pw_uid, user.pw_gid)
''')


def _service_dropin(service: str, lines: Sequence[str]) -> tuple[str, str]:
    return f"/etc/systemd/system/{service}.service.d/pg-platform.conf", "\n".join(["[Unit]", *lines, ""])


def grafana_install_script(key: str) -> str:
    listing = f"deb [signed-by={key}] {grafana.APT_REPOSITORY}"
    return "\n".join([
        "set -eu",
        f"keys=$(gpg --show-keys --with-colons {key})",
        '[ "$(printf \'%s\\n\' "$keys" | grep -c \'^pub:\')" = 1 ]',
        f"printf '%s\\n' \"$keys\" | grep -q '^fpr:*{grafana.APT_KEY_FINGERPRINT}:'",
        f"echo '{listing}' > /etc/apt/sources.list.d/grafana.list",
        "apt-get update",
        "apt-get install -y grafana",
        "systemctl enable --now grafana-server",
    ])


def render_monitoring_user_data(spec: ClusterSpec, receivers: Sequence[ReceiverLike], boot: MonitoringBoot) -> str:
    """Prometheus and Alertmanager from Debian, configured for this cluster, their state on the data volume;
    Grafana from its repository; the SSM agent. Webhook URLs arrive as secret ARNs, never as values."""
    hooks = alertmanager.webhook_receivers(receivers)
    if set(boot.webhook_secret_arns) != set(hooks):
        raise ValueError(f"webhook secret ARNs for {sorted(boot.webhook_secret_arns)}, but the webhook receivers "
                         f"are {sorted(hooks)}")
    ca_path = "/etc/prometheus/pg-platform-ca.crt"
    rules_path = "/etc/prometheus/rules/pg-platform.yml"
    targets = ScrapeTargets(prometheus=f"localhost:{PORTS.prometheus}", alertmanagers=(f"localhost:{PORTS.alertmanager}",))
    fill = {"region": boot.region, "template": ALERTMANAGER_TEMPLATE, "config": ALERTMANAGER_CONFIG,
            "group": "prometheus", "webhooks": dict(sorted(boot.webhook_secret_arns.items()))}
    # Installed with their services held back: nothing may write to the state directory before the data
    # volume is mounted over it; on later boots they wait for that mount.
    mounted = [f"RequiresMountsFor={boot.data_mount}"]
    files = [
        _file("/usr/sbin/policy-rc.d", "#!/bin/sh\nexit 101\n", 0o755, defer=False),
        _file(rules_path, render_alert_rules(spec), 0o644),
        _file("/etc/prometheus/prometheus.yml", render_prometheus_config(
            spec, targets, (rules_path,), ca_path if boot.ca_cert_pem else None), 0o644),
        _file(ALERTMANAGER_TEMPLATE, alertmanager.render_alertmanager_template(
            spec, receivers, boot.smtp_smarthost, boot.smtp_from), 0o644),
        _file(ALERTMANAGER_WEBHOOKS, json.dumps(fill, indent=1) + "\n", 0o644),
        _file(ALERTMANAGER_FILL, render_alertmanager_fill_script(), 0o700),
        _file(f"/etc/systemd/system/{ALERTMANAGER_FILL_UNIT}", render_alertmanager_fill_unit(), 0o644),
        _file(*_service_dropin("prometheus-alertmanager", [
            f"Requires={ALERTMANAGER_FILL_UNIT}", f"After={ALERTMANAGER_FILL_UNIT}", *mounted]), 0o644),
        _file(*_service_dropin("prometheus", mounted), 0o644),
        _file(DATA_VOLUME_SCRIPT, render_data_volume_script(), 0o700),
    ]
    if boot.ca_cert_pem:
        files.append(_file(ca_path, boot.ca_cert_pem, 0o644))
    files += [
        _file("/etc/grafana/provisioning/datasources/pg-platform.yml", grafana.render_datasource(), 0o644),
        _file("/etc/grafana/provisioning/dashboards/pg-platform.yml", grafana.render_dashboard_provider(), 0o644),
        _file(f"{grafana.DASHBOARDS_DIR}/{spec.scope}.json", grafana.render_dashboard(spec), 0o644),
        _file(grafana.SERVICE_OVERRIDE, grafana.render_service_override(), 0o644),
    ]
    key = "/etc/apt/keyrings/grafana.asc"
    doc = {
        "apt": debian_mirrors(),
        "package_update": True,
        "packages": ["prometheus", "prometheus-alertmanager", "gpg", "curl", "python3-boto3", "e2fsprogs"],
        "write_files": files,
        "runcmd": [
            ["rm", "-f", "/usr/sbin/policy-rc.d"],
            # First, so an operator can reach the node whatever fails after it.
            *aws_agent_commands(boot.region, cloudwatch=False),
            ["systemctl", "daemon-reload"],
            ["systemctl", "enable", ALERTMANAGER_FILL_UNIT, *MONITORING_SERVICES],
            # Without the data volume they stay stopped (cloud-init reports the failure) rather than keep their
            # history on the root disk, which a replacement deletes.
            ["sh", "-c", f"{shlex.join([DATA_VOLUME_SCRIPT, boot.data_mount, 'prometheus', 'prometheus'])} && "
                         f"systemctl restart {' '.join(MONITORING_SERVICES)}"],
            # Grafana's repository, trusted only after its key matches the pinned fingerprint.
            ["install", "-d", "-m", "0755", "/etc/apt/keyrings"],
            ["curl", "-fsSL", "--proto", "=https", "-o", key, grafana.APT_KEY_URL],
            # runcmd is one plain sh script without `set -e`: the check and everything it guards share one
            # command, so a key that is not exactly the pinned one (or carries another) installs nothing.
            ["sh", "-c", grafana_install_script(key)],
        ],
    }
    return (f"#cloud-config\n# pg-platform monitoring for {spec.scope}: rendered by dataplane; webhook URLs arrive as "
            f"secret ARNs and are fetched at boot\n" + dump_cloud_config(doc))
