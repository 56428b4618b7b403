#!/usr/bin/env bash
# Installs spotifyd-etl from source: the binary, the systemd unit, the sysusers.d entry (static
# user and group spotifyd-etl), the sample config and the credential directory, in the standard
# places. Idempotent: re-running upgrades the binary and the unit but never overwrites an
# existing config or a credential file that already exists. On a machine without Swift, install
# the .deb that scripts/package-deb.sh builds instead.
#
#   scripts/install.sh [--prefix /usr/local] [--root DIR] [--binary PATH] [--no-reload]
#
#   --prefix   where the binary goes (PREFIX/bin/spotifyd-etl); default /usr/local. The unit's
#              ExecStart= is rewritten to match when the prefix is not /usr/local.
#   --root     install into a different root (a container or image tree); implies --no-reload.
#   --binary   install this binary instead of building one (the default builds a release
#              binary with the Swift runtime linked statically: -static-stdlib).
#   --no-reload  do not run `systemctl daemon-reload` afterwards.
#
# The static-stdlib binary still links libcurl, libsqlite3, zlib and libsystemd dynamically
# (Debian bookworm: libcurl4 libsqlite3-0 zlib1g libsystemd0). It links FoundationEssentials
# only: no libxml2, no ICU.
#
# Credentials: LoadCredential= with a missing source file fails the unit (systemd 252), so the
# optional credentials (SPOTIFY_REFRESH_TOKEN, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
# AWS_SESSION_TOKEN) are created empty; the daemon treats an empty credential as absent.
# SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET are created empty too, so the unit can load;
# the daemon refuses to start (exit 78, naming the missing credential) until they are filled.
set -euo pipefail

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }

src="$(cd "$(dirname "$0")/.." && pwd)"
prefix=/usr/local
root=""
binary=""
reload=1
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="${2:?--prefix needs a value}"; shift 2 ;;
    --prefix=*) prefix="${1#*=}"; shift ;;
    --root) root="${2:?--root needs a value}"; reload=0; shift 2 ;;
    --root=*) root="${1#*=}"; reload=0; shift ;;
    --binary) binary="${2:?--binary needs a value}"; shift 2 ;;
    --binary=*) binary="${1#*=}"; shift ;;
    --no-reload) reload=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
case "$prefix" in /*) ;; *) echo "install.sh: --prefix must be absolute" >&2; exit 2 ;; esac
root="${root%/}"

if [ -z "$binary" ]; then
  echo "building release binary (-static-stdlib)..." >&2
  (cd "$src" && swift build -c release -Xswiftc -static-stdlib --product spotifyd-etl >&2)
  binary="$(cd "$src" && swift build -c release -Xswiftc -static-stdlib --show-bin-path)/spotifyd-etl"
fi
[ -x "$binary" ] || { echo "install.sh: not an executable: $binary" >&2; exit 1; }

bindir="$root$prefix/bin"
unitdir="$root/etc/systemd/system"
confdir="$root/etc/spotifyd-etl"
creddir="$confdir/credentials"

# Binary: install to a temporary name and rename, so a running daemon keeps its old inode.
install -d -m 0755 "$bindir"
install -m 0755 "$binary" "$bindir/.spotifyd-etl.new"
mv -f "$bindir/.spotifyd-etl.new" "$bindir/spotifyd-etl"
echo "installed $prefix/bin/spotifyd-etl"

# Unit: ExecStart= follows --prefix.
install -d -m 0755 "$unitdir"
unit_tmp="$(mktemp)"
trap 'rm -f "$unit_tmp"' EXIT
sed "s|^\(Exec[A-Za-z]*=\)/usr/local/bin/spotifyd-etl |\1$prefix/bin/spotifyd-etl |" \
  "$src/systemd/spotifyd-etl.service" >"$unit_tmp"
install -m 0644 "$unit_tmp" "$unitdir/spotifyd-etl.service"
echo "installed /etc/systemd/system/spotifyd-etl.service"

# The static user and group spotifyd-etl (members of the group may use the control socket:
# `spotifyd-etl status` without root). systemd-sysusers is idempotent.
sysusersdir="$root/etc/sysusers.d"
install -d -m 0755 "$sysusersdir"
install -m 0644 "$src/systemd/spotifyd-etl.sysusers" "$sysusersdir/spotifyd-etl.conf"
echo "installed /etc/sysusers.d/spotifyd-etl.conf"
if command -v systemd-sysusers >/dev/null; then
  systemd-sysusers ${root:+--root="$root"} spotifyd-etl.conf
else
  echo "install.sh: no systemd-sysusers; create the group yourself: groupadd --system spotifyd-etl; useradd --system -g spotifyd-etl -d / -s /usr/sbin/nologin spotifyd-etl" >&2
fi

# Config: never overwrite the operator's file.
install -d -m 0755 "$confdir"
if [ -e "$confdir/spotifyd-etl.toml" ]; then
  echo "kept existing /etc/spotifyd-etl/spotifyd-etl.toml"
else
  install -m 0644 "$src/etc/spotifyd-etl.toml" "$confdir/spotifyd-etl.toml"
  echo "installed /etc/spotifyd-etl/spotifyd-etl.toml (edit the playlists and sink)"
fi

# Credentials: root-only directory, placeholders for every LoadCredential= source.
install -d -m 0700 "$creddir"
chmod 0700 "$creddir"
for name in $(sed -n 's|^LoadCredential=\([A-Z_]*\):.*|\1|p' "$src/systemd/spotifyd-etl.service"); do
  if [ ! -e "$creddir/$name" ]; then
    (umask 077; : >"$creddir/$name")
    echo "created empty credential /etc/spotifyd-etl/credentials/$name"
  fi
  chmod 0600 "$creddir/$name"
done

if [ "$reload" = 1 ] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
fi

for name in SPOTIFY_CLIENT_ID SPOTIFY_CLIENT_SECRET; do
  if [ ! -s "$creddir/$name" ]; then
    echo "next: put the Spotify app's ${name#SPOTIFY_} into /etc/spotifyd-etl/credentials/$name (see docs/operations.md)"
  fi
done
