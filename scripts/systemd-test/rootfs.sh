#!/usr/bin/env bash
# Builds (once) the minimal Debian bookworm rootfs the systemd test boots with systemd-nspawn.
#
# The rootfs is cached under .cache/systemd-rootfs/<stamp>/ and reused while the stamp (release,
# mirror, package list) is unchanged; a new stamp builds a fresh one and removes old ones. It is
# built into a temporary directory and renamed only when complete, so an interrupted debootstrap
# never leaves a half-built cache behind. Prints the rootfs path on stdout.
#
# The packages are what the static-stdlib binary still links dynamically (libcurl, libsqlite3,
# zlib, libsystemd0 via systemd; the daemon links FoundationEssentials only, so no libxml2 or
# ICU) plus what the test runs inside (setpriv from util-linux, ps from procps,
# ca-certificates for libcurl). run.sh checks every `ldd` dependency of the binary is present.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
suite=bookworm
# Same mirror apt uses on this host (deb.debian.org); override with DEBIAN_MIRROR.
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
packages="systemd,systemd-sysv,dbus,libcurl4,libsqlite3-0,zlib1g,ca-certificates,util-linux,procps"
version=1
stamp="$(printf '%s\n' "$version" "$suite" "$mirror" "$packages" | sha256sum | cut -c1-12)"
cache="$root/.cache/systemd-rootfs"
dest="$cache/$suite-$stamp"

if [ -f "$dest/.complete" ]; then
  echo "$dest"
  exit 0
fi

mkdir -p "$cache"
# One builder at a time (parallel test runs on one machine); the others then find it complete.
exec 9>"$cache/.lock"
flock 9
if [ -f "$dest/.complete" ]; then
  echo "$dest"
  exit 0
fi
rm -rf --one-file-system "$dest"
tmp="$(mktemp -d "$cache/.building.XXXXXX")"
trap 'rm -rf --one-file-system "$tmp"' EXIT
echo "rootfs: debootstrap $suite from $mirror (first run only)" >&2
debootstrap --variant=minbase --include="$packages" "$suite" "$tmp" "$mirror" >"$cache/debootstrap.log" 2>&1 || {
  echo "rootfs: debootstrap failed, see $cache/debootstrap.log" >&2
  tail -n 20 "$cache/debootstrap.log" >&2
  exit 1
}
# Make the image boot quickly and quietly in a container: no getty, no
# timers doing apt work, a fixed machine id so journald keeps one directory.
chroot "$tmp" systemctl mask \
  console-getty.service getty@tty1.service systemd-timesyncd.service \
  apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer \
  >/dev/null 2>&1 || true
echo "spotifyd-test" >"$tmp/etc/hostname"
: >"$tmp/etc/machine-id"
rm -rf "$tmp/var/cache/apt/archives/"*.deb "$tmp/var/lib/apt/lists/"* 2>/dev/null || true
touch "$tmp/.complete"
# Drop rootfs caches built for older stamps.
for old in "$cache"/*-*/; do
  [ -d "$old" ] && [ "${old%/}" != "$dest" ] && rm -rf --one-file-system "${old%/}"
done
mv -T "$tmp" "$dest"
trap - EXIT
echo "$dest"
