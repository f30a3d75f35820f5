#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine, as root: installs what is missing, runs the lint, format, type
# and shell checks (scripts/check.sh), then unit, policy, data-plane and sandbox/drill tests. The sandbox tests
# start and stop the sandbox themselves. The tests run even when a check finds something; either fails the run.
# With arguments, they go to one pytest run as they are (`bash scripts/test.sh tests/unit -k graph`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh
started=$(date +%s)
status=0
PG_PLATFORM_SKIP_BOOTSTRAP=1 bash scripts/check.sh || status=$?
if [ "$#" -gt 0 ]; then
  .venv/bin/python -m pytest "$@" || status=$?
else
  # Everything but the sandbox on both cores; then the sandbox alone, because its drills time real failovers
  # and a busy second core would stretch them.
  .venv/bin/python -m pytest -n 2 --ignore=tests/sandbox tests || status=$?
  .venv/bin/python -m pytest tests/sandbox || status=$?
fi
echo "test suite finished in $(( $(date +%s) - started )) s (exit $status)"
exit "$status"
