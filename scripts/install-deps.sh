#!/usr/bin/env bash
# Installs what building, running and testing spotifyd-etl needs on Debian 12 with Swift.
# Idempotent: installs only what is missing. Usage: scripts/install-deps.sh [--test]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

apt_pkgs=(libcurl4-openssl-dev libsystemd-dev libsqlite3-dev zlib1g-dev pkg-config sqlite3 curl python3)
if [ $want_test = 1 ]; then
  # systemd-container + debootstrap: the real-systemd test; util-linux: setpriv for the
  # unprivileged control-socket client; openssl: the hashing floor of the S3 benchmark.
  apt_pkgs+=(systemd systemd-container debootstrap debian-archive-keyring util-linux procps openssl gzip time)
  # The Debian package (scripts/package-deb.sh): dpkg-shlibdeps (dpkg-dev), strip/objdump
  # (binutils), lintian; man-db to render the manual pages.
  apt_pkgs+=(dpkg-dev binutils lintian man-db)
fi
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  echo "installing: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ $want_test = 1 ]; then
  # pip decides what is missing; with everything present this is a quick no-op.
  python3 -m pip install -q --disable-pip-version-check -r "$here/requirements-test.txt"
fi
