#!/usr/bin/env bash
# Lint, format and type checks on a fresh Debian machine, as root: installs what is missing (scripts/bootstrap.sh),
# then runs ruff (lint and format), mypy and shellcheck with the configuration in pyproject.toml. Each check's
# findings are printed in full, then one summary line per check; the exit status is non-zero on any finding.
# Set PG_PLATFORM_SKIP_BOOTSTRAP=1 when the caller has just run scripts/bootstrap.sh (scripts/test.sh does).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
here="$(pwd)"
[ "${PG_PLATFORM_SKIP_BOOTSTRAP:-0}" = 1 ] || bash scripts/bootstrap.sh
bin="${PG_PLATFORM_VENV:-$here/.venv}/bin"

# Shell scripts: every tracked *.sh, and tracked files without the suffix that start with a sh/bash shebang
# (.ci/run).
shell_scripts() {
  git ls-files -z | while IFS= read -r -d '' f; do
    [ -f "$f" ] || continue # deleted in the work tree, not yet committed
    case "$f" in
      *.sh) printf '%s\n' "$f" ;;
      *.py | *.md | *.yaml | *.yml | *.json | *.toml | *.txt) ;;
      *) head -n 1 "$f" 2>/dev/null | grep -qE '^#!.*(/|env )(ba|da)?sh\b' && printf '%s\n' "$f" ;;
    esac
  done
}

summary=()
failed=0
# check NAME UNIT PATTERN COMMAND...: run COMMAND and count the lines of its output that match PATTERN (one per
# finding). Findings are printed in full. A command that fails with nothing counted (a crash, a bad config) counts
# as one finding, so a broken tool never passes.
check() {
  local name="$1" unit="$2" pattern="$3" out status=0 count
  shift 3
  out="$("$@" 2>&1)" || status=$?
  count="$(printf '%s\n' "$out" | grep -cE "$pattern" || true)"
  if [ "$status" -ne 0 ] && [ "$count" -eq 0 ]; then count=1; fi
  if [ "$count" -ne 0 ]; then
    printf '%s\n' "--- $name" "$out"
    failed=1
  fi
  summary+=("$(printf '%-12s %4d %s' "$name:" "$count" "$unit")")
}

# The shell scripts are found through git: refuse to pass quietly with none.
if ! git ls-files --error-unmatch scripts/check.sh >/dev/null 2>&1; then
  echo "scripts/check.sh: run it in a git checkout of pg-platform (git ls-files lists the shell scripts)" >&2
  exit 2
fi
mapfile -t scripts < <(shell_scripts)

location='^[^ ]+:[0-9]+:[0-9]+: ' # path:line:column: the start of one finding (ruff concise, shellcheck gcc)
check "ruff check" "finding(s)" "$location" "$bin/ruff" check --output-format concise --quiet .
check "ruff format" "file(s) to reformat" "$location" "$bin/ruff" format --check --output-format concise --quiet .
check "mypy" "error(s)" '^[^ ]+:[0-9]+: error: ' "$bin/mypy"
check "shellcheck" "finding(s) in ${#scripts[@]} script(s)" "$location" "$bin/shellcheck" -f gcc "${scripts[@]}"

printf '%s\n' "${summary[@]}"
exit "$failed"
