#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine, as root: installs what is missing, runs the lint, format, type
# and shell checks (scripts/check.sh), then unit, policy, data-plane and sandbox/drill tests. The sandbox tests
# start and stop the sandbox themselves. The tests run even when a check finds something; either fails the run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh
started=$(date +%s)
status=0
PG_PLATFORM_SKIP_BOOTSTRAP=1 bash scripts/check.sh || status=$?
.venv/bin/python -m pytest "$@" || status=$?
echo "test suite finished in $(( $(date +%s) - started )) s (exit $status)"
exit "$status"
