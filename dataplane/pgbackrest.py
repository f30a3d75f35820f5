"""pgbackrest.conf for one member, the commands PostgreSQL and Patroni run, and the backup schedule.

Each member gets its own file in which it is pg1 (so `archive-push`/`archive-get` act on its own data
directory) and its peers are pg2..pgN. Peers on another host are reached through pgBackRest's TLS server with
the cluster's client certificate; peers on the same host (the sandbox) are local paths with their own port
and socket. With every member listed, a backup started on the primary copies files from a standby
(backup-standby) and only asks the primary for start/stop.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TypeAlias, assert_never

from dataplane.model import (
    SECRET_ENV,
    AzureRepository,
    ClusterSpec,
    GcsRepository,
    Member,
    PosixRepository,
    Repository,
    S3Repository,
)
from dataplane.tls import CLIENT_COMMON_NAME, tls_files

CIPHER_TYPE = "aes-256-cbc"
# zstd: better ratio than lz4 at similar speed on the WAL and heap pages we measured.
COMPRESS_TYPE = "zst"
BACKUP_TYPES = ("full", "diff", "incr")
# A stage without backups (pg-platform:backups.enabled: false) reports every WAL segment archived and keeps none:
# PostgreSQL then recycles its WAL as usual instead of keeping it in pg_wal for an archiver that never succeeds.
ARCHIVE_NOTHING_COMMAND = "/bin/true"
# Root's cron file of the scheduled backups on every member: written at boot, kept by the configure step.
BACKUP_CRON_FILE = "/etc/cron.d/pgp-backup"


def config_path(spec: ClusterSpec, member: Member) -> str:
    return str(PurePosixPath(spec.paths_for(member).config_dir) / "pgbackrest.conf")


def _base(spec: ClusterSpec, member: Member) -> list[str]:
    paths = spec.paths_for(member)
    # --pg1-path on the command line: with one configuration shared by several local nodes, archive-push from
    # a node other than pg1 fails unless it names its own data directory (REFERENCES.md).
    return [
        paths.pgbackrest_bin,
        f"--config={config_path(spec, member)}",
        f"--stanza={spec.stanza}",
        f"--pg1-path={paths.data_dir}",
    ]


# Repository-only commands refuse pg options ("option 'pg-path' not valid for command 'info'", and verify).
REPOSITORY_COMMANDS = ("info", "verify")


def command(spec: ClusterSpec, member: Member, *args: str) -> str:
    """Any pgBackRest command for this member's stanza, e.g. command(spec, m, "check")."""
    base = _base(spec, member)
    if any(a in REPOSITORY_COMMANDS for a in args):
        base = [a for a in base if not a.startswith("--pg1-path=")]
    return shlex.join(base + list(args))


def archive_push_command(spec: ClusterSpec, member: Member) -> str:
    return shlex.join([*_base(spec, member), "archive-push"]) + ' "%p"'


def archive_get_command(spec: ClusterSpec, member: Member) -> str:
    return shlex.join([*_base(spec, member), "archive-get"]) + ' %f "%p"'


def replica_restore_command(spec: ClusterSpec, member: Member) -> str:
    """Patroni's `pgbackrest` replica creation method: a delta restore of the latest backup as a standby."""
    return shlex.join([*_base(spec, member), "--delta", "--type=standby", "restore"])


def side_instance_options(instance_dir: str) -> list[str]:
    """Options for a restore into an instance beside a running member (a restore drill, a clone): its own
    spool, lock and log paths. pgBackRest writes command-line options into the restored `restore_command`, so
    the instance's archive-get keeps them. With the member's paths, its asynchronous archive-get needs the same
    archive lock as the member's archive-push and waits out archive-timeout (60 s a segment) while the
    member archives."""
    return [
        f"--spool-path={instance_dir}/pgbackrest/spool",
        f"--lock-path={instance_dir}/pgbackrest/lock",
        f"--log-path={instance_dir}/pgbackrest/log",
    ]


def side_restore_argv(spec: ClusterSpec, member: Member, instance_dir: str, *options: str) -> list[str]:
    """A restore into `instance_dir`/data beside the running member, with the instance's own paths."""
    paths = spec.paths_for(member)
    return [
        paths.pgbackrest_bin,
        f"--config={config_path(spec, member)}",
        f"--stanza={spec.stanza}",
        f"--pg1-path={instance_dir}/data",
        *side_instance_options(instance_dir),
        *options,
        "restore",
    ]


def backup_command(spec: ClusterSpec, member: Member, backup_type: str) -> str:
    if backup_type not in BACKUP_TYPES:
        raise ValueError(f"backup type {backup_type!r} is not one of {BACKUP_TYPES}")
    return shlex.join([*_base(spec, member), f"--type={backup_type}", "backup"])


def server_command(spec: ClusterSpec, member: Member) -> str:
    """The TLS server peers use to reach this member's data directory (a long-running service)."""
    paths = spec.paths_for(member)
    return shlex.join([paths.pgbackrest_bin, f"--config={config_path(spec, member)}", "server"])


def _remote(spec: ClusterSpec, member: Member, peer: Member) -> bool:
    return peer.host != member.host


def needs_tls_server(spec: ClusterSpec, member: Member) -> bool:
    return any(_remote(spec, member, p) for p in spec.members if p != member)


def environment_options(repo: Repository) -> tuple[str, ...]:
    """The repository's options whose values are credentials: never rendered, read by pgBackRest from
    PGBACKREST_REPO<n>_<OPTION> (its environment form of repo<n>-<option>)."""
    match repo:
        case S3Repository(key_type="shared"):
            return ("s3-key", "s3-key-secret")
        case AzureRepository(key_type="shared" | "sas"):
            return ("azure-key",)
        case GcsRepository(key_type="token"):
            return ("gcs-key",)
        case _:
            return ()


def repo_environment(spec: ClusterSpec) -> dict[str, str]:
    """Environment variable -> secret name for what a node must export before running pgBackRest.

    Every repository is encrypted with the one backup-cipher secret; repo1's variable is SECRET_ENV's, the
    others use the same value under their own index. A repository's own credentials (shared keys: the sandbox's
    emulator) come from the secrets "repo<n>-<option>", e.g. "repo2-s3-key".
    """
    env: dict[str, str] = {}
    for i, repo in enumerate(spec.repositories, start=1):
        env[f"PGBACKREST_REPO{i}_CIPHER_PASS"] = "backup-cipher"
        for option in environment_options(repo):
            env[f"PGBACKREST_REPO{i}_{option.upper().replace('-', '_')}"] = f"repo{i}-{option}"
    assert not spec.repositories or SECRET_ENV["backup-cipher"] == "PGBACKREST_REPO1_CIPHER_PASS"
    return env


ObjectStore: TypeAlias = S3Repository | AzureRepository | GcsRepository


def _absolute(path: str) -> str:
    # A key prefix in a bucket or container, which pgBackRest takes written as an absolute path.
    return path if path.startswith("/") else "/" + path


def _object_store_options(p: str, repo: ObjectStore) -> list[tuple[str, str]]:
    opts: list[tuple[str, str]] = []
    if not repo.verify_tls:
        opts.append((f"{p}-storage-verify-tls", "n"))
    if repo.ca_file:
        opts.append((f"{p}-storage-ca-file", repo.ca_file))
    # Fewer, larger objects: cheaper under object lock, where every version is kept until its lock ends.
    opts.append((f"{p}-bundle", "y"))
    return opts


def repository_options(index: int, repo: Repository) -> list[tuple[str, str]]:
    """The repo<index>-* lines of pgbackrest.conf for one repository, whichever of pgBackRest's types it is."""
    p = f"repo{index}"
    match repo:
        case PosixRepository():
            return [(f"{p}-type", "posix"), (f"{p}-path", repo.path)]
        case S3Repository():
            if not repo.bucket or not repo.region or not repo.endpoint:
                raise ValueError(f"s3 repository {index} needs a bucket, a region and an endpoint")
            opts = [
                (f"{p}-s3-bucket", repo.bucket),
                (f"{p}-s3-region", repo.region),
                (f"{p}-s3-endpoint", repo.endpoint),
                (f"{p}-s3-uri-style", repo.uri_style),
                (f"{p}-s3-key-type", repo.key_type),
            ]
            if repo.kms_key_id:
                opts.append((f"{p}-s3-kms-key-id", repo.kms_key_id))
        case AzureRepository():
            if not repo.account or not repo.container:
                raise ValueError(f"azure repository {index} needs an account and a container")
            opts = [
                (f"{p}-azure-account", repo.account),
                (f"{p}-azure-container", repo.container),
                (f"{p}-azure-endpoint", repo.endpoint),
                (f"{p}-azure-uri-style", repo.uri_style),
                (f"{p}-azure-key-type", repo.key_type),
            ]
        case GcsRepository():
            if not repo.bucket:
                raise ValueError(f"gcs repository {index} needs a bucket")
            opts = [
                (f"{p}-gcs-bucket", repo.bucket),
                (f"{p}-gcs-endpoint", repo.endpoint),
                (f"{p}-gcs-key-type", repo.key_type),
            ]
            if repo.key_file:
                opts.append((f"{p}-gcs-key", repo.key_file))
        case _:
            assert_never(repo)
    return [(f"{p}-type", repo.kind), (f"{p}-path", _absolute(repo.path)), *opts, *_object_store_options(p, repo)]


def _retention(index: int, spec: ClusterSpec) -> list[tuple[str, str]]:
    # Time-based full retention matches the PITR objective directly: any moment in the last N days.
    return [
        (f"repo{index}-retention-full-type", "time"),
        (f"repo{index}-retention-full", str(spec.topology.retention_full_days.value)),
        (f"repo{index}-cipher-type", CIPHER_TYPE),
    ]


def render_pgbackrest_conf(spec: ClusterSpec, member: Member) -> str:
    if not spec.repositories:
        raise ValueError("a cluster needs at least one pgBackRest repository")
    paths = spec.paths_for(member)
    tls = tls_files(spec, member)
    vcpus = spec.size_of(member).vcpus
    glob: list[tuple[str, str]] = []
    for i, repo in enumerate(spec.repositories, start=1):
        glob += repository_options(i, repo) + _retention(i, spec)
    glob += [
        ("compress-type", COMPRESS_TYPE),
        ("process-max", str(max(1, vcpus // 2))),
        ("start-fast", "y"),
        ("delta", "y"),
        ("archive-async", "y"),
        ("spool-path", paths.pgbackrest_spool_dir),
        ("lock-path", paths.pgbackrest_lock_dir),
        ("log-path", f"{paths.log_dir}/pgbackrest"),
        ("log-level-console", "warn"),
        ("log-level-file", "info"),
    ]
    if len(spec.members) > 1:
        glob.append(("backup-standby", "y"))
    if needs_tls_server(spec, member):
        glob += [
            ("tls-server-address", member.host),
            ("tls-server-port", str(member.ports.pgbackrest_server)),
            ("tls-server-cert-file", tls.cert),
            ("tls-server-key-file", tls.key),
            ("tls-server-ca-file", tls.ca),
            ("tls-server-auth", f"{CLIENT_COMMON_NAME}={spec.stanza}"),
        ]

    stanza: list[tuple[str, str]] = []
    ordered = [member] + [m for m in spec.members if m != member]
    for n, peer in enumerate(ordered, start=1):
        pp = spec.paths_for(peer)
        stanza += [
            (f"pg{n}-path", pp.data_dir),
            (f"pg{n}-port", str(peer.ports.postgres)),
            (f"pg{n}-socket-path", pp.run_dir),
        ]
        if n > 1 and _remote(spec, member, peer):
            stanza += [
                (f"pg{n}-host", peer.host),
                (f"pg{n}-host-type", "tls"),
                (f"pg{n}-host-port", str(peer.ports.pgbackrest_server)),
                (f"pg{n}-host-cert-file", tls.client_cert),
                (f"pg{n}-host-key-file", tls.client_key),
                (f"pg{n}-host-ca-file", tls.ca),
                (f"pg{n}-host-config", config_path(spec, peer)),
            ]

    out = [
        f"# rendered by pg-platform dataplane for {spec.scope}/{member.name}; do not edit",
        "# cipher passphrases and S3 keys arrive as PGBACKREST_REPO<n>_* environment variables",
        "[global]",
    ]
    out += [f"{k}={v}" for k, v in glob]
    out += [
        "",
        "[global:archive-push]",
        f"process-max={max(2, vcpus // 2)}",
        "",
        "[global:archive-get]",
        f"process-max={max(2, vcpus // 2)}",
        "",
        f"[{spec.stanza}]",
    ]
    out += [f"{k}={v}" for k, v in stanza]
    return "\n".join(out) + "\n"


@dataclass(frozen=True)
class ScheduledBackup:
    backup_type: str
    cron: str


def backup_schedule(spec: ClusterSpec) -> tuple[ScheduledBackup, ...]:
    """The backups the members' cron runs: none for a stage without backups."""
    if not spec.backups_enabled:
        return ()
    sched = spec.topology.backup_schedule.value
    entries = [ScheduledBackup("full", sched.full_cron)]
    if sched.diff_cron:
        entries.append(ScheduledBackup("diff", sched.diff_cron))
    if sched.incr_cron:
        entries.append(ScheduledBackup("incr", sched.incr_cron))
    return tuple(entries)


def primary_guard(spec: ClusterSpec, member: Member) -> str:
    """A shell test true only on the current leader, so the same cron file on every member backs up once."""
    tls = tls_files(spec, member)
    return shlex.join(
        [
            "curl",
            "-sf",
            "-o",
            "/dev/null",
            "--cacert",
            tls.ca,
            f"https://{member.host}:{member.ports.patroni_rest}/primary",
        ]
    )


def render_backup_cron(spec: ClusterSpec, member: Member, user: str = "postgres") -> str:
    """An /etc/cron.d file: each scheduled backup runs on whichever member is primary at that moment.

    The full backup's schedule wins over a diff/incr due at the same minute: pgBackRest holds a lock per
    stanza, so the later one fails fast instead of running twice; expiry runs after every backup.
    """
    env_file = spec.paths_for(member).secrets_env
    lines = [
        f"# rendered by pg-platform dataplane for {spec.scope}/{member.name}; do not edit",
        "SHELL=/bin/sh",
        "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
    ]
    if not spec.backups_enabled:
        # The file stays (the configure step replaces content, it never deletes), empty of schedules.
        lines.append("# no backups are scheduled: pg-platform:backups.enabled is false for this stage")
    for entry in backup_schedule(spec):
        lines.append(
            f"{entry.cron} {user} {primary_guard(spec, member)} && set -a && . {env_file} && "
            f"{backup_command(spec, member, entry.backup_type)}"
        )
    return "\n".join(lines) + "\n"
