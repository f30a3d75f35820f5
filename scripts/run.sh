#!/usr/bin/env bash
# The main job on a fresh Debian machine, as root: install; print the dev and prod topology (with reasons)
# and resource trees from the offline run; bring up the prod-profile sandbox on loopback and print its status.
# Stop it with: .venv/bin/python -m tools sandbox down
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh
.venv/bin/python -m tools topology
.venv/bin/python -m tools run --counts
.venv/bin/python -m tools sandbox up --profile prod
