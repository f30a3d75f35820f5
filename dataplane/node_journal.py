"""A member's own writes to the stack journal (dataplane/journal.py): the scheduled restore drill records its
runs there, as the console records operators' actions.

A member has python3 but neither boto3 nor the AWS CLI, so this module is standard library only and its source
travels to the member inside the program that uses it (`restore_drill.journal_append_program`). It signs one S3
PutObject with Signature Version 4, with the instance role's credentials from IMDSv2 (`key_type` auto) or with the keys
pgBackRest reads from the secrets environment (`shared`, the sandbox's emulator), and hands it to the same
`S3Journal.append` the console uses, so an entry written here is read back by `pgp journal` like any other.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

IMDS = "http://169.254.169.254"
IMDS_TOKEN_TTL_SECONDS = "60"
REQUEST_TIMEOUT_SECONDS = 20
SERVICE = "s3"


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    token: str | None = None


@dataclass(frozen=True)
class Bucket:
    """Where the journal lives: the stack's first S3 repository, as pgBackRest is configured to reach it."""

    name: str
    region: str
    endpoint: str  # host[:port]
    uri_style: str  # "host" or "path"
    key_type: str  # "auto" (instance role) or "shared" (keys in the environment)
    key_env: tuple[str, str] = ("", "")  # the environment variables of the access key and secret (shared)
    ca_file: str | None = None
    verify_tls: bool = True


def imds_credentials(fetch: Callable[[urllib.request.Request], bytes] | None = None) -> Credentials:
    """The instance role's temporary credentials through IMDSv2 (a session token first: v1 may be disabled)."""

    def default_fetch(request: urllib.request.Request) -> bytes:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_SECONDS) as response:
            return bytes(response.read())

    get = fetch or default_fetch
    token = get(
        urllib.request.Request(
            f"{IMDS}/latest/api/token",
            method="PUT",
            headers={"X-aws-ec2-metadata-token-ttl-seconds": IMDS_TOKEN_TTL_SECONDS},
        )
    ).decode()
    headers = {"X-aws-ec2-metadata-token": token}
    base = f"{IMDS}/latest/meta-data/iam/security-credentials/"
    role = get(urllib.request.Request(base, headers=headers)).decode().split()[0]
    found = json.loads(get(urllib.request.Request(base + role, headers=headers)))
    return Credentials(found["AccessKeyId"], found["SecretAccessKey"], found.get("Token"))


def credentials_for(bucket: Bucket, environ: Mapping[str, str] | None = None) -> Credentials:
    env = os.environ if environ is None else environ
    if bucket.key_type == "shared":
        key, secret = bucket.key_env
        if not env.get(key) or not env.get(secret):
            raise RuntimeError(f"{key} and {secret} must be set (the member's secrets environment)")
        return Credentials(env[key], env[secret])
    if bucket.key_type == "auto":
        return imds_credentials()
    raise RuntimeError(f"S3 key type {bucket.key_type!r}: a member writes the journal with auto or shared keys")


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def object_url(bucket: Bucket, key: str) -> tuple[str, str]:
    """(host, path) of an object; the path is URI-encoded once, as S3's canonical request expects."""
    quoted = urllib.parse.quote(key, safe="/~")
    if bucket.uri_style == "path":
        return bucket.endpoint, f"/{bucket.name}/{quoted}"
    return f"{bucket.name}.{bucket.endpoint}", f"/{quoted}"


def signed_headers(
    method: str,
    host: str,
    path: str,
    region: str,
    headers: Mapping[str, str],
    body: bytes,
    credentials: Credentials,
    now: datetime,
) -> dict[str, str]:
    """The request's headers with Signature Version 4 added (no query string: a plain object request)."""
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    payload = hashlib.sha256(body).hexdigest()
    out = {**headers, "host": host, "x-amz-content-sha256": payload, "x-amz-date": stamp}
    if credentials.token:
        out["x-amz-security-token"] = credentials.token
    canonical = {k.lower(): " ".join(str(v).split()) for k, v in out.items()}
    names = sorted(canonical)
    request = "\n".join([method, path, "", *(f"{n}:{canonical[n]}" for n in names), "", ";".join(names), payload])
    scope = f"{stamp[:8]}/{region}/{SERVICE}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(request.encode()).hexdigest()])
    key = _hmac(
        _hmac(_hmac(_hmac(f"AWS4{credentials.secret_key}".encode(), stamp[:8]), region), SERVICE), "aws4_request"
    )
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, SignedHeaders={';'.join(names)}, "
        f"Signature={signature}"
    )
    return out


class PutOnlyS3:
    """The one S3 call `S3Journal.append` makes, with boto3's argument names."""

    def __init__(self, bucket: Bucket, credentials: Credentials):
        self.bucket, self.credentials = bucket, credentials

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, ContentType: str, ContentMD5: str) -> None:
        if Bucket != self.bucket.name:
            raise ValueError(f"this client writes to {self.bucket.name}, not {Bucket}")
        host, path = object_url(self.bucket, Key)
        headers = signed_headers(
            "PUT",
            host,
            path,
            self.bucket.region,
            {"content-type": ContentType, "content-md5": ContentMD5},
            Body,
            self.credentials,
            datetime.now(UTC),
        )
        context = ssl.create_default_context(cafile=self.bucket.ca_file)
        if not self.bucket.verify_tls:
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        request = urllib.request.Request(f"https://{host}{path}", data=Body, method="PUT", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_SECONDS, context=context):
                pass
        except urllib.error.HTTPError as error:
            raise RuntimeError(
                f"S3 PUT {Key}: HTTP {error.code}: {error.read()[:500].decode(errors='replace')}"
            ) from None


def main(journal: Any, argv: list[str]) -> int:
    """argv: BUCKET_JSON SCOPE WHO ACTION RESULT SECONDS DETAILS_JSON; `journal` is dataplane.journal's module."""
    if len(argv) != 7:
        print("usage: pgp-journal-append BUCKET_JSON SCOPE WHO ACTION RESULT SECONDS DETAILS_JSON", file=sys.stderr)
        return 2
    bucket_json, scope, who, action, result, seconds, details = argv
    spec = json.loads(bucket_json)
    bucket = Bucket(**{**spec, "key_env": tuple(spec.get("key_env", ("", "")))})
    item = journal.entry(action, who, result, float(seconds), json.loads(details))
    try:
        name = journal.S3Journal(PutOnlyS3(bucket, credentials_for(bucket)), bucket.name, scope).append(item)
    except Exception as error:  # the caller's own work is done: say why the record is missing, and fail
        print(f"pgp-journal-append: not recorded: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(f"recorded s3://{bucket.name}/{name}")
    return 0
