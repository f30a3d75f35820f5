#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine, as root: installs what is missing, then runs unit,
# policy, data-plane and sandbox/drill tests. The sandbox tests start and stop the sandbox themselves.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh
started=$(date +%s)
status=0
.venv/bin/python -m pytest "$@" || status=$?
echo "test suite finished in $(( $(date +%s) - started )) s (exit $status)"
exit "$status"
