#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian machine, as root: Debian packages for the data plane,
# the project's virtualenv, and Patroni in its own virtualenv that the postgres user can execute.
# Safe to run again: every step checks before it acts.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

venv="${PG_PLATFORM_VENV:-$here/.venv}"
# Patroni runs as the postgres user, which cannot execute an interpreter under /root: its venv is
# built from Debian's python3 in a world-readable place.
patroni_venv="${PG_PLATFORM_PATRONI_VENV:-/opt/pg-platform/patroni}"
# One version for the sandbox and the cloud nodes: the data plane's boot script pins it (PATRONI_VERSION in
# dataplane/), found by name so that moving the module does not break the install.
patroni_version="$({ grep -rh --include='*.py' '^PATRONI_VERSION = ' dataplane || true; } |
  sed -n 's/^PATRONI_VERSION = "\(.*\)"$/\1/p' | sort -u)"
case "$patroni_version" in
  "" | *[[:space:]]*)
    echo "expected one PATRONI_VERSION = \"...\" in dataplane/, found: ${patroni_version:-none}" >&2
    exit 1
    ;;
esac
patroni_spec="patroni[etcd3,psycopg3]==$patroni_version"

apt_packages=(
  python3 python3-venv openssl ca-certificates util-linux procps iproute2 curl
  nftables  # the members' port redirects (dataplane/boot/redirects.py), loaded for real in a test
  cloud-init  # only its schema validator: tests check the rendered user data with it
  postgresql postgresql-contrib etcd-server etcd-client pgbackrest pgbouncer haproxy
  prometheus prometheus-alertmanager prometheus-postgres-exporter prometheus-node-exporter
)

log() { printf '[bootstrap] %s\n' "$*" >&2; }

missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# pgaudit is built per PostgreSQL major: resolve the major Debian's "postgresql" package brings.
pg_major() { find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null | sort -n | tail -n 1; }

install_apt() {
  export DEBIAN_FRONTEND=noninteractive
  # Package installs would start default services on ports the sandbox does not use but a
  # user may; keep them stopped for the duration of the install, and never leave the guard behind
  # (it would stop every later service start on this host).
  local guard=/usr/sbin/policy-rc.d
  if [ ! -e "$guard" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$guard"; chmod +x "$guard"
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  # cloud-init is here for its schema validator only: it must not configure this host at its next boot.
  mkdir -p /etc/cloud && touch /etc/cloud/cloud-init.disabled
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  rm -f "$guard"; trap - EXIT
}

if [ "${#missing[@]}" -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  install_apt "${missing[@]}"
fi
major="$(pg_major)"
if ! dpkg-query -W -f='${Status}' "postgresql-$major-pgaudit" 2>/dev/null | grep -q "install ok installed"; then
  log "installing postgresql-$major-pgaudit"
  install_apt "postgresql-$major-pgaudit"
fi

stamp_ok() { [ -f "$1/.requirements.sha" ] && [ "$(cat "$1/.requirements.sha")" = "$2" ]; }

# Tools and tests need the dev set; a deploy installs only requirements/<cloud>.txt (README, "Deploy to AWS").
req_sha="$(cat requirements.txt requirements/*.txt | sha256sum | cut -d' ' -f1)"
if ! stamp_ok "$venv" "$req_sha"; then
  log "building the project virtualenv in $venv"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check --upgrade pip
  "$venv/bin/pip" install -q --disable-pip-version-check -r requirements/dev.txt
  echo "$req_sha" >"$venv/.requirements.sha"
fi

patroni_sha="$(echo "$patroni_spec" | sha256sum | cut -d' ' -f1)"
if ! stamp_ok "$patroni_venv" "$patroni_sha"; then
  log "building the Patroni virtualenv in $patroni_venv"
  mkdir -p "$(dirname "$patroni_venv")"
  /usr/bin/python3 -m venv "$patroni_venv"
  "$patroni_venv/bin/pip" install -q --disable-pip-version-check --upgrade pip
  "$patroni_venv/bin/pip" install -q --disable-pip-version-check "$patroni_spec"
  chmod -R a+rX "$patroni_venv"
  echo "$patroni_sha" >"$patroni_venv/.requirements.sha"
fi
# Azurite (the sandbox's Azure Blob emulator, sandbox/services/azurite.py) from the npm registry, pinned, in a
# world-readable prefix the postgres user runs it from. 3.35.0 is the newest that runs on Node 18/20 (Debian 12's
# and this image's): 3.36.0 requires Node 21 and 3.37.0 Node 22.
azurite_version="3.35.0"
azurite_prefix="${PG_PLATFORM_AZURITE_PREFIX:-/opt/pg-platform/azurite}"
if ! command -v npm >/dev/null 2>&1; then
  log "installing nodejs and npm for Azurite"
  install_apt nodejs npm
fi
if ! stamp_ok "$azurite_prefix" "azurite@$azurite_version"; then
  log "installing azurite@$azurite_version in $azurite_prefix"
  mkdir -p "$azurite_prefix"
  npm install --prefix "$azurite_prefix" --no-audit --no-fund --omit=dev --loglevel=error "azurite@$azurite_version" >/dev/null
  chmod -R a+rX "$azurite_prefix"
  echo "azurite@$azurite_version" >"$azurite_prefix/.requirements.sha"
fi
# The operator console, `pgp` (tools/console.py), on PATH for this checkout; `python -m tools console` is the same.
pgp_bin="${PG_PLATFORM_BIN_DIR:-/usr/local/bin}/pgp"
pgp_wrapper="$(printf '%s\n' '#!/bin/sh' "# written by $here/scripts/bootstrap.sh: the operator console of this checkout" \
  "PYTHONPATH=$(printf '%q' "$here") exec $(printf '%q' "$venv/bin/python") -m tools.console \"\$@\"")"
if [ "$(cat "$pgp_bin" 2>/dev/null)" != "$pgp_wrapper" ]; then
  log "installing the operator console as $pgp_bin"
  mkdir -p "$(dirname "$pgp_bin")"
  printf '%s\n' "$pgp_wrapper" >"$pgp_bin"
  chmod 0755 "$pgp_bin"
fi
log "ready: venv=$venv patroni=$patroni_venv postgresql=$major azurite=$azurite_version console=$pgp_bin"
