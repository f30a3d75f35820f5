"""A database member's user data.

User data carries configuration and secret *references* only (CKV_AWS_46). At first boot a member:
1. fetches PGDG's signing key over HTTPS and trusts it only if it is the pinned key (bootcmd);
2. installs PostgreSQL (PGDG, for any supported major), pgaudit, etcd, pgBackRest (pinned to one version),
   PgBouncer and the exporters with their services held back (policy-rc.d, no Debian "main" cluster), and
   Patroni pinned in a venv;
3. writes the rendered files (`node_files`, identical to the sandbox's), systemd units and cron files;
4. installs the cloud's agents, then runs the boot script: fetch every secret with the node's own identity from
   the cloud's secrets store into a 0600 environment file, write its TLS bundle, mount the data volume, then
   start the units in order.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import Any

from dataplane import exporters, operations
from dataplane.boot.apt import APT_PIN_FILE, PGBACKREST_VERSION, apt_config, pgdg_key_command, render_apt_pin
from dataplane.boot.cloud import BootCloud
from dataplane.boot.cloud_config import POLICY_RC, dump_cloud_config, file_entry, policy_rc_entry
from dataplane.boot.data_volume import DATA_VOLUME_SOURCE
from dataplane.boot.units import SERVICE_USER, SYSTEM_UNIT_DIR, render_tmpfiles, system_units
from dataplane.model import SECRET_ENV, ClusterSpec, Member
from dataplane.node_files import node_file_mode, node_files, program_files, roles_sql_path
from dataplane.pgbackrest import BACKUP_CRON_FILE, render_backup_cron, repo_environment
from dataplane.tls import TlsFiles, tls_files
from stacks.databases import extension_packages

PATRONI_VERSION = "4.1.5"
BOOT_SCRIPT = "/usr/local/sbin/pgp-boot"
MEMBER_DATA_MOUNT = "/var/lib/postgresql"  # the data volume's mount point (holds Paths.data_dir)


@dataclass(frozen=True)
class NodeBoot:
    """What a member needs at boot: references to its secrets, never their values, and its cloud's part."""

    cloud: BootCloud
    secret_refs: Mapping[str, str]  # SECRET_ENV name -> reference in the cloud's secrets store
    tls_secret_refs: Mapping[str, str]  # member name -> reference of its TLS bundle (JSON, TlsFiles keys)
    data_mount: str = MEMBER_DATA_MOUNT
    patroni_version: str = PATRONI_VERSION
    # A reference to the secret holding the program files (node_files.program_files) as JSON, path -> content:
    # set on a cloud whose user data has no room for them (EC2's 16 KiB); the boot fetches and writes them.
    program_files_ref: str | None = None


def packages(spec: ClusterSpec, cloud: BootCloud) -> list[str]:
    major = spec.topology.postgres_major
    return [
        f"postgresql-{major}",
        f"postgresql-{major}-pgaudit",
        *extension_packages(spec.declared, major),
        "etcd-server",
        "etcd-client",
        "pgbackrest",
        "pgbouncer",
        "prometheus-postgres-exporter",
        "prometheus-node-exporter",
        "python3-venv",
        *cloud.packages(),
        "curl",
        "cron",
        "openssl",
        "e2fsprogs",
    ]


def _boot_config(spec: ClusterSpec, member: Member, boot: NodeBoot) -> dict[str, Any]:
    noun = boot.cloud.secret_ref_noun
    if member.name not in boot.tls_secret_refs:
        raise ValueError(f"no TLS secret {noun} for member {member.name}")
    env_refs: dict[str, str] = {}
    wanted = {var: name for name, var in SECRET_ENV.items()} | repo_environment(spec)
    for var, name in wanted.items():
        if name not in boot.secret_refs:
            raise ValueError(f"no secret {noun} for {name!r} (environment variable {var})")
        env_refs[var] = boot.secret_refs[name]
    paths = spec.paths_for(member)
    tls = tls_files(spec, member)
    for name in ("data_dir", "etcd_data_dir"):
        if not getattr(paths, name).startswith(boot.data_mount.rstrip("/") + "/"):
            raise ValueError(f"{name} {getattr(paths, name)} is not on the data volume mounted at {boot.data_mount}")
    dirs = [
        (paths.config_dir, "0750"),
        (str(PurePosixPath(tls.key).parent), "0700"),
        (paths.log_dir, "0750"),
        (f"{paths.log_dir}/postgresql", "0750"),
        (f"{paths.log_dir}/patroni", "0750"),
        (f"{paths.log_dir}/pgbackrest", "0750"),
        (paths.pgbackrest_spool_dir, "0750"),
        (paths.etcd_data_dir, "0700"),
        (boot.data_mount, "0750"),
    ]
    fetched = program_files(spec, member) if boot.program_files_ref else {}
    # "env_arns" and "tls_arn" hold the cloud's secret references whatever it calls them: the names are the
    # script's own, kept from when AWS was the only cloud so its nodes' user data did not change.
    return {
        **boot.cloud.config(),
        "env_arns": env_refs,
        "tls_arn": boot.tls_secret_refs[member.name],
        "tls_files": {f: getattr(tls, f) for f in TlsFiles.__dataclass_fields__},
        "secrets_env": paths.secrets_env,
        "data_mount": boot.data_mount,
        "dirs": dirs,
        "user": SERVICE_USER,
        "units": list(system_units(spec, member)),
        "files_arn": boot.program_files_ref,
        "programs": {
            path: [PurePosixPath(path).name, f"{node_file_mode(spec, member, path):04o}"] for path in sorted(fetched)
        },
    }


def program_files_json(spec: ClusterSpec) -> str:
    """What the program-files secret holds (NodeBoot.program_files_ref), file name -> content: the same for
    every member (each member's boot script knows where its own copies go)."""
    each = {
        json.dumps({PurePosixPath(p).name: text for p, text in program_files(spec, m).items()}, sort_keys=True)
        for m in spec.members
    }
    if len(each) != 1:
        raise ValueError("members' program files differ: a shared secret cannot hold them")
    return each.pop()


_SCRIPT_HEAD = (
    r"""
import json, os, pwd, re, subprocess, sys, time
"""
    + DATA_VOLUME_SOURCE
    + r"""

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
"""
)
_SCRIPT_ENV_LOOP = r"""    lines = []
    for var, arn in sorted(CONFIG["env_arns"].items()):
        value = """
_SCRIPT_ENV_FILE = r"""
        # Single-quoted values mean the same to systemd's EnvironmentFile= and to sh (cron's `. file`).
        if not value or re.search(r"['\"\\\n$`]", value):
            sys.exit(f"secret for {var} is empty or holds characters an environment file cannot carry")
        lines.append(f"{var}='{value}'")
    write_private(CONFIG["secrets_env"], "\n".join(lines) + "\n")
    bundle = json.loads("""
_SCRIPT_TAIL = r""")
    for field, path in CONFIG["tls_files"].items():
        write_private(path, bundle[field])
    if CONFIG["files_arn"]:
        programs = json.loads("""
_SCRIPT_FILES = r""")
        for path, (name, mode) in CONFIG["programs"].items():
            write_private(path, programs[name])
            own(path, int(mode, 8))


def units():
    subprocess.run(["systemd-tmpfiles", "--create"], check=True)
    subprocess.run(["systemctl", "daemon-reload"], check=True)
    subprocess.run(["systemctl", "enable", *CONFIG["units"]], check=True)
    for unit in CONFIG["units"]:
        subprocess.run(["systemctl", "start", unit], check=True)


STEPS = {"data": data_volume, "dirs": directories, "secrets": secrets, "units": units}
for step in sys.argv[1:] or STEPS:
    STEPS[step]()
"""


def boot_script_body(cloud: BootCloud) -> str:
    """The boot steps (data, dirs, secrets, units); only the secrets client is the cloud's."""
    return (
        _SCRIPT_HEAD
        + cloud.secret_client("CONFIG")
        + _SCRIPT_ENV_LOOP
        + cloud.secret_value("arn")
        + _SCRIPT_ENV_FILE
        + cloud.secret_value('CONFIG["tls_arn"]')
        + _SCRIPT_TAIL
        + cloud.secret_value('CONFIG["files_arn"]')
        + _SCRIPT_FILES
    )


def render_boot_script(spec: ClusterSpec, member: Member, boot: NodeBoot) -> str:
    config = json.dumps(_boot_config(spec, member, boot), sort_keys=True)
    return (
        "#!/usr/bin/python3\n# rendered by pg-platform dataplane; do not edit\n"
        f"CONFIG_JSON = {config!r}\n" + boot_script_body(boot.cloud)
    )


def with_boot_repositories(spec: ClusterSpec, boot: NodeBoot) -> ClusterSpec:
    """The spec with its repositories as the cloud completes them at deploy time (BootCloud.repositories)."""
    return replace(spec, repositories=boot.cloud.repositories(spec.repositories))


def render_node_user_data(spec: ClusterSpec, member: Member, boot: NodeBoot) -> str:
    spec = with_boot_repositories(spec, boot)
    paths = spec.paths_for(member)
    fetched = program_files(spec, member) if boot.program_files_ref else {}
    files = [
        # Before any package: Debian must neither start services with vendor configs (ports clash with ours)
        # nor create its own "main" PostgreSQL cluster.
        policy_rc_entry(),
        file_entry("/etc/postgresql-common/createcluster.conf", "create_main_cluster = false\n", 0o644, defer=False),
        # Before any package, so the first install already takes the pinned version.
        file_entry(APT_PIN_FILE, render_apt_pin("pgbackrest", PGBACKREST_VERSION), 0o644, defer=False),
    ]
    files += [
        file_entry(path, content, node_file_mode(spec, member, path), f"{SERVICE_USER}:{SERVICE_USER}")
        for path, content in node_files(spec, member).items()
        if not (boot.cloud.configure_writes_roles and path == roles_sql_path(spec, member)) and path not in fetched
    ]
    files += [file_entry(f"{SYSTEM_UNIT_DIR}/{name}", text, 0o644) for name, text in system_units(spec, member).items()]
    files += [
        file_entry("/etc/tmpfiles.d/pg-platform.conf", render_tmpfiles(spec, member), 0o644),
        file_entry(BACKUP_CRON_FILE, render_backup_cron(spec, member, SERVICE_USER), 0o644),
        file_entry(
            "/etc/cron.d/pgp-node-metrics", exporters.render_node_metrics_cron(spec, member, SERVICE_USER), 0o644
        ),
        file_entry(BOOT_SCRIPT, render_boot_script(spec, member, boot), 0o700),
        *(file_entry(f.path, f.content, f.mode) for f in boot.cloud.agent_files("member", boot.data_mount)),
        *(
            file_entry(path, text, mode, owner)
            for path, (text, mode, owner) in operations.operation_script_files(spec, member).items()
        ),
    ]
    venv = str(PurePosixPath(paths.patroni_bin).parent.parent)
    vendor_units = ["etcd", "pgbouncer", "prometheus-postgres-exporter", "prometheus-node-exporter", "postgresql"]
    doc = {
        "bootcmd": [pgdg_key_command()],
        "apt": apt_config(boot.cloud),
        "package_update": True,
        "packages": packages(spec, boot.cloud),
        "write_files": files,
        "runcmd": [
            ["rm", "-f", POLICY_RC],
            ["systemctl", "disable", "--now", *vendor_units],
            ["/usr/bin/python3", "-m", "venv", venv],
            [f"{venv}/bin/pip", "install", "--no-cache-dir", f"patroni[etcd3,psycopg3]=={boot.patroni_version}"],
            *boot.cloud.agent_commands("member"),
            [BOOT_SCRIPT],
        ],
    }
    header = (
        f"#cloud-config\n# pg-platform member {member.name} of {spec.scope}: rendered by dataplane; "
        f"secrets arrive as {boot.cloud.secret_ref_noun}s and are fetched at boot\n"
    )
    return header + dump_cloud_config(doc)
