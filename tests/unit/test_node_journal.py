"""A member's journal writer (dataplane/node_journal.py): its Signature Version 4 agrees with botocore's for the
same request, time and credentials, it takes the instance role's credentials through IMDSv2, and it refuses
what it cannot sign. The sandbox's restore drill test writes through it to the S3 emulator for real."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from botocore import auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials as BotoCredentials

from dataplane import node_journal

NOW = datetime(2026, 12, 3, 3, 30, 5, tzinfo=UTC)
KEY = "journal/pgp-prod/2026/12/03/2026-12-03T03:30:05.000000Z-drill restore-abc.json"


@pytest.mark.parametrize("token", [None, "session-token/with+chars="])
@pytest.mark.parametrize("uri_style", ["host", "path"])
def test_the_signature_is_botocores_for_the_same_put(monkeypatch, token, uri_style):
    bucket = node_journal.Bucket("pgp-prod-backups", "eu-central-1", "s3.eu-central-1.amazonaws.com", uri_style, "auto")
    creds = node_journal.Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    body = b'{"action": "drill restore"}'
    headers = {"content-type": "application/json", "content-md5": "q1w2e3r4t5y6u7i8o9p0aa=="}
    host, path = node_journal.object_url(bucket, KEY)
    ours = node_journal.signed_headers("PUT", host, path, bucket.region, headers, body, creds, NOW)

    monkeypatch.setattr(auth, "get_current_datetime", lambda: NOW.replace(tzinfo=None))
    request = AWSRequest(method="PUT", url=f"https://{host}{path}", data=body, headers=dict(headers))
    request.context["client_config"] = Config(s3={"payload_signing_enabled": True})
    auth.S3SigV4Auth(BotoCredentials(creds.access_key, creds.secret_key, token), "s3", bucket.region).add_auth(request)
    assert ours["Authorization"] == request.headers["Authorization"]
    assert ours["x-amz-date"] == "20261203T033005Z"
    assert ("x-amz-security-token" in ours) == (token is not None)
    # A space in the key is encoded once in the path, as S3's canonical request expects.
    assert "drill%20restore" in path and path.startswith("/pgp-prod-backups/" if uri_style == "path" else "/journal/")


def test_instance_role_credentials_come_through_imdsv2():
    asked = []

    def fetch(request):
        asked.append((request.get_method(), request.full_url, dict(request.header_items())))
        if request.full_url.endswith("/api/token"):
            return b"imds-token"
        if request.full_url.endswith("/security-credentials/"):
            return b"pgp-prod-node\n"
        return json.dumps({"AccessKeyId": "ASIA1", "SecretAccessKey": "s", "Token": "t"}).encode()

    assert node_journal.imds_credentials(fetch) == node_journal.Credentials("ASIA1", "s", "t")
    assert asked[0][0] == "PUT" and asked[0][2] == {"X-aws-ec2-metadata-token-ttl-seconds": "60"}
    assert asked[2][1].endswith("/latest/meta-data/iam/security-credentials/pgp-prod-node")
    assert all(h.get("X-aws-ec2-metadata-token") == "imds-token" for _, _, h in asked[1:])


def test_shared_keys_are_read_from_the_environment_and_named_when_missing():
    bucket = node_journal.Bucket("b", "r", "localhost:1", "path", "shared", ("K", "S"))
    assert node_journal.credentials_for(bucket, {"K": "k", "S": "s"}) == node_journal.Credentials("k", "s")
    with pytest.raises(RuntimeError, match="K and S must be set"):
        node_journal.credentials_for(bucket, {"K": "k"})
    with pytest.raises(RuntimeError, match="web-id"):
        node_journal.credentials_for(node_journal.Bucket("b", "r", "e", "host", "web-id"), {})


def test_the_writer_puts_only_into_its_own_bucket_and_main_checks_its_arguments(capsys):
    bucket = node_journal.Bucket("b", "r", "e", "host", "auto")
    client = node_journal.PutOnlyS3(bucket, node_journal.Credentials("a", "s"))
    with pytest.raises(ValueError, match="writes to b, not other"):
        client.put_object(Bucket="other", Key="k", Body=b"", ContentType="t", ContentMD5="m")
    assert node_journal.main(object(), ["too", "few"]) == 2
    assert "usage: pgp-journal-append" in capsys.readouterr().err
