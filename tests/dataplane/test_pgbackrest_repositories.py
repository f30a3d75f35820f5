"""pgBackRest's repository types (s3, azure, gcs, posix): each renders exactly the options pgBackRest documents for
it, the installed pgbackrest reads every one of them back with the value we meant, and credentials only ever
travel as environment variables."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from dataplane_support import cloud_spec

from dataplane import pgbackrest
from dataplane.model import AzureRepository, ClusterSpec, GcsRepository, PosixRepository, Repository, S3Repository

pytestmark = pytest.mark.dataplane

S3 = S3Repository(
    path="pgp",
    bucket="b",
    region="eu-central-1",
    endpoint="s3.eu-central-1.amazonaws.com",
    kms_key_id="arn:aws:kms:eu-central-1:123456789012:key/k",
)
# The installed pgbackrest (Debian's 2.45) knows key types shared and sas for azure; the pinned release the nodes
# run adds auto (managed identities), which is AzureRepository's default.
AZURE = AzureRepository(path="/pgp", account="acct", container="backups", key_type="shared")
GCS = GcsRepository(path="/pgp", bucket="g")
POSIX = PosixRepository(path="/var/lib/pgbackrest")

EXPECTED: dict[str, tuple[Repository, dict[str, str]]] = {
    "s3": (
        S3,
        {
            "type": "s3",
            "path": "/pgp",
            "s3-bucket": "b",
            "s3-region": "eu-central-1",
            "s3-endpoint": "s3.eu-central-1.amazonaws.com",
            "s3-uri-style": "host",
            "s3-key-type": "auto",
            "s3-kms-key-id": S3.kms_key_id or "",
            "bundle": "y",
        },
    ),
    "azure": (
        AZURE,
        {
            "type": "azure",
            "path": "/pgp",
            "azure-account": "acct",
            "azure-container": "backups",
            "azure-endpoint": "blob.core.windows.net",
            "azure-uri-style": "host",
            "azure-key-type": "shared",
            "bundle": "y",
        },
    ),
    "gcs": (
        GCS,
        {
            "type": "gcs",
            "path": "/pgp",
            "gcs-bucket": "g",
            "gcs-endpoint": "storage.googleapis.com",
            "gcs-key-type": "auto",
            "bundle": "y",
        },
    ),
    "posix": (POSIX, {"type": "posix", "path": "/var/lib/pgbackrest"}),
}


def _options(index: int, repo: Repository) -> dict[str, str]:
    prefix = f"repo{index}-"
    opts = pgbackrest.repository_options(index, repo)
    assert all(k.startswith(prefix) for k, _ in opts) and len({k for k, _ in opts}) == len(opts)
    return {k.removeprefix(prefix): v for k, v in opts}


@pytest.mark.parametrize("kind", EXPECTED)
def test_each_repository_type_renders_its_own_options(kind):
    repo, expected = EXPECTED[kind]
    assert repo.kind == kind
    assert _options(1, repo) == expected
    assert _options(3, repo) == expected  # the index only names the repository


def test_object_store_tls_options_apply_to_every_object_store():
    for repo in (S3, AZURE, GCS):
        opts = _options(1, dataclasses.replace(repo, verify_tls=False, ca_file="/ca.crt"))
        assert opts["storage-verify-tls"] == "n" and opts["storage-ca-file"] == "/ca.crt"


def test_credentials_come_from_the_environment_never_the_file():
    cases = [
        (dataclasses.replace(S3, key_type="shared"), ("s3-key", "s3-key-secret")),
        (S3, ()),
        (dataclasses.replace(S3, key_type="web-id"), ()),
        (AZURE, ("azure-key",)),
        (dataclasses.replace(AZURE, key_type="sas"), ("azure-key",)),
        (dataclasses.replace(AZURE, key_type="auto"), ()),
        (dataclasses.replace(GCS, key_type="token"), ("gcs-key",)),
        (GCS, ()),
        (POSIX, ()),
    ]
    for repo, options in cases:
        assert pgbackrest.environment_options(repo) == options, repo
        assert not set(options) & set(_options(1, repo)), repo


def test_repository_environment_names_each_repositorys_own_variables():
    spec = dataclasses.replace(
        cloud_spec("dev"),
        repositories=(
            POSIX,
            dataclasses.replace(S3, key_type="shared"),
            AZURE,
            dataclasses.replace(GCS, key_type="token"),
        ),
    )
    assert pgbackrest.repo_environment(spec) == {
        "PGBACKREST_REPO1_CIPHER_PASS": "backup-cipher",
        "PGBACKREST_REPO2_CIPHER_PASS": "backup-cipher",
        "PGBACKREST_REPO2_S3_KEY": "repo2-s3-key",
        "PGBACKREST_REPO2_S3_KEY_SECRET": "repo2-s3-key-secret",
        "PGBACKREST_REPO3_CIPHER_PASS": "backup-cipher",
        "PGBACKREST_REPO3_AZURE_KEY": "repo3-azure-key",
        "PGBACKREST_REPO4_CIPHER_PASS": "backup-cipher",
        "PGBACKREST_REPO4_GCS_KEY": "repo4-gcs-key",
    }


def test_incomplete_repositories_are_refused():
    with pytest.raises(ValueError, match="absolute"):
        PosixRepository(path="relative/dir")
    with pytest.raises(ValueError, match="key_file"):
        GcsRepository(path="/p", bucket="g", key_type="service")
    with pytest.raises(ValueError, match="bucket"):
        pgbackrest.repository_options(1, dataclasses.replace(S3, bucket=""))
    with pytest.raises(ValueError, match="container"):
        pgbackrest.repository_options(1, dataclasses.replace(AZURE, container=""))
    service = GcsRepository(path="/p", bucket="g", key_type="service", key_file="/etc/pg-platform/gcs.json")
    assert _options(1, service)["gcs-key"] == "/etc/pg-platform/gcs.json"


# Options pgBackRest treats as secure: `help` shows that it read them, not what.
SECURE_OPTIONS = {"azure-account", "azure-endpoint"}
REDACTED = "<redacted>"
needs_pgbackrest = pytest.mark.skipif(shutil.which("pgbackrest") is None, reason="pgbackrest is not installed")


def _write_conf(tmp_path: Path, spec: ClusterSpec) -> Path:
    conf = tmp_path / "pgbackrest.conf"
    conf.write_text(pgbackrest.render_pgbackrest_conf(spec, spec.members[0]))
    return conf


def _help(conf: Path, spec: ClusterSpec, *option: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["pgbackrest", f"--config={conf}", f"--stanza={spec.stanza}", "help", "backup", *option],
        capture_output=True,
        text=True,
        timeout=30,
    )


@needs_pgbackrest
@pytest.mark.parametrize("kind", EXPECTED)
def test_pgbackrest_reads_every_rendered_option_back(kind, tmp_path):
    """`pgbackrest help` loads the configuration: it refuses a value an option does not allow, warns about an
    option it does not know, and shows the value it read as `current`."""
    repo, expected = EXPECTED[kind]
    spec = dataclasses.replace(cloud_spec("dev"), repositories=(repo,))
    conf = _write_conf(tmp_path, spec)
    whole = _help(conf, spec)
    assert whole.returncode == 0 and "WARN" not in whole.stdout + whole.stderr, whole.stdout + whole.stderr
    for option, value in expected.items():
        shown = _help(conf, spec, f"repo-{option}")
        assert shown.returncode == 0, shown.stderr
        current = re.search(r"^current: (.*)$", shown.stdout, re.M)
        # Booleans are written y/n and shown as true/false.
        meant = {"y": "true", "n": "false"}.get(value, value)
        assert current and current.group(1) == (REDACTED if option in SECURE_OPTIONS else meant), (option, shown.stdout)


@needs_pgbackrest
def test_pgbackrest_refuses_a_value_its_type_does_not_allow(tmp_path):
    """The check above can fail: a key type pgBackRest does not know is an error, not a silent default."""
    spec = dataclasses.replace(cloud_spec("dev"), repositories=(dataclasses.replace(GCS, key_type="nonsense"),))
    result = _help(_write_conf(tmp_path, spec), spec)
    assert result.returncode != 0 and "repo1-gcs-key-type" in result.stdout + result.stderr
