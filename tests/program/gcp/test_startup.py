"""The GCP startup script's pieces that run before cloud-init: the image's Debian sources over HTTPS, the read
port's redirect."""

from __future__ import annotations

import re
import shlex
import subprocess

from components.gcp.startup import render_startup_script
from dataplane.boot.redirects import port_redirects

DEB822 = """Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
"""
ONE_LINE = (
    "deb http://security.debian.org/debian-security bookworm-security main\n"
    "deb http://deb.debian.org/debian bookworm main\n"
)


def test_the_images_sources_are_rewritten_to_https(tmp_path):
    script = render_startup_script({})
    (line,) = [ln for ln in script.splitlines() if "sed -i -E" in ln]
    expression = shlex.split(line)[3]
    for name, text in {"debian.sources": DEB822, "sources.list": ONE_LINE}.items():
        path = tmp_path / name
        path.write_text(text)
        subprocess.run(["sed", "-i", "-E", expression, str(path)], check=True)
        rewritten = path.read_text()
        assert "http://" not in rewritten, rewritten
        assert re.findall(r"https://\S+", rewritten) == [
            u.replace("http://security.", "https://deb.").replace("http://", "https://")
            for u in re.findall(r"http://\S+", text)
        ]


def test_only_routes_whose_ports_differ_are_redirected():
    assert port_redirects({"write": (5432, 5432), "read": (5433, 5432), "pooled": (6432, 6432)}) == {5433: 5432}
    script = render_startup_script({5433: 5432})
    assert "tcp dport 5433 redirect to :5432" in script and script.count("redirect") == 1
    assert "redirect" not in render_startup_script({})
