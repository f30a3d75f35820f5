"""User data as EC2 takes it."""

from __future__ import annotations

import base64
import gzip


def compress_user_data(text: str) -> str:
    """cloud-init accepts gzip; compressing keeps the rendered files under EC2's 16 KiB user-data limit.
    mtime=0 makes the bytes, and so the plan, deterministic."""
    return base64.b64encode(gzip.compress(text.encode(), mtime=0)).decode()
