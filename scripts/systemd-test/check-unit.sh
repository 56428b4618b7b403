#!/usr/bin/env bash
# CI check of systemd/spotifyd-etl.service:
#   1. `systemd-analyze security --offline=true` overall exposure must be <= 1.5 (MAX_EXPOSURE).
#   2. `systemd-analyze verify` must print nothing (no warnings, no errors).
# verify needs the ExecStart= binary to exist; the unit is copied to a temporary directory with
# only the ExecStart= path rewritten (to BINARY, default /bin/true), everything else identical.
#
#   scripts/systemd-test/check-unit.sh [--binary PATH]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
unit="$root/systemd/spotifyd-etl.service"
max="${MAX_EXPOSURE:-1.5}"
binary=/bin/true
[ "${1:-}" = "--binary" ] && binary="$(realpath "${2:?--binary needs a path}")"
failed=0

security_out="$(systemd-analyze security --offline=true --no-pager "$unit" 2>&1)" || true
exposure="$(printf '%s\n' "$security_out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' | tail -n1)"
if [ -z "$exposure" ]; then
  printf '%s\n' "$security_out" >&2
  echo "not ok - systemd-analyze security: no overall exposure in the output"; failed=1
elif awk -v e="$exposure" -v m="$max" 'BEGIN { exit !(e <= m) }'; then
  echo "ok - systemd-analyze security --offline=true: exposure $exposure <= $max"
else
  printf '%s\n' "$security_out" | grep -v '^  ✓' >&2 || true
  echo "not ok - systemd-analyze security --offline=true: exposure $exposure > $max"; failed=1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
sed "s|^\(Exec[A-Za-z]*=\)/usr/local/bin/spotifyd-etl |\1$binary |" "$unit" >"$tmp/spotifyd-etl.service"
verify_out="$(cd "$tmp" && SYSTEMD_LOG_COLOR=0 systemd-analyze verify --man=no "$tmp/spotifyd-etl.service" 2>&1)" && verify_rc=0 || verify_rc=$?
if [ "$verify_rc" = 0 ] && [ -z "$verify_out" ]; then
  echo "ok - systemd-analyze verify: clean"
else
  printf '%s\n' "$verify_out" >&2
  echo "not ok - systemd-analyze verify: exit $verify_rc, output above"; failed=1
fi
exit "$failed"
