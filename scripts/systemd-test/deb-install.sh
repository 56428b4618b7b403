#!/usr/bin/env bash
# Install test of the Debian package: `apt install ./spotifyd-etl_<v>_<arch>.deb` into a fresh
# Debian bookworm rootfs that has no Swift, booted with systemd-nspawn, then use it the way an
# operator would, then purge it.
#
#   scripts/systemd-test/deb-install.sh [--deb PATH] [--keep]
#
#   --deb PATH   test this package instead of building one with scripts/package-deb.sh
#   --keep       leave the container running at the end (prints how to enter and stop it)
#
# Steps: the cached minbase rootfs of scripts/systemd-test/rootfs.sh (shared with run.sh) is
# booted with `systemd-nspawn -b --register=no --keep-unit --volatile=overlay` sharing the host
# network, so the rootfs stays pristine and the container reaches the Spotify emulator on the
# host's loopback and the Debian mirror. Inside: apt-get update, man-db (not in the rootfs),
# then `apt install ./….deb`. Assertions: package contents and Depends satisfied, the service
# enabled but not started, the static group; with a config and credentials pointing at the
# emulator it starts, polls and flushes; an operator added to the group runs `spotifyd-etl
# status` without root, an outsider is refused; `man` renders the pages; a reinstall (the
# upgrade path) keeps the edited conffile and credentials and restarts the daemon; `apt purge`
# removes every file, the unit, /etc/spotifyd-etl and the state.
# One line per assertion (`ok - …` / `not ok - …`), a final `N passed, M failed`, exit 1 on
# any failure. Needs root, systemd-nspawn, debootstrap, nsenter, python3, curl, and network
# access to the Debian mirror (DEBIAN_MIRROR, as for rootfs.sh).
#
# Only processes this script started are ever signalled, by PID: the emulator, systemd-nspawn
# and, should nspawn not take the container down, the container's PID 1.
set -uo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

deb=""; keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --deb) [ -f "${2:-}" ] || { echo "deb-install.sh: --deb needs a .deb file" >&2; exit 2; }
           deb="$(realpath "$2")"; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "deb-install.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

[ "$(id -u)" = 0 ] || { echo "deb-install.sh: needs root (systemd-nspawn)" >&2; exit 2; }
for tool in systemd-nspawn debootstrap nsenter python3 curl; do
  command -v "$tool" >/dev/null || { echo "deb-install.sh: missing $tool" >&2; exit 2; }
done

t0=$SECONDS
work="$(mktemp -d /tmp/spotifyd-deb-test.XXXXXX)"
# log/ok/notok/check/finish, cleanup, inside/cpath/wait_for/prop/polled, boot_container,
# start_emulator, readable_playlists.
. "$root/scripts/systemd-test/lib.sh"
emu_pid=""
helper_pid_vars="emu_pid"
inside_env=(DEBIAN_FRONTEND=noninteractive)
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- rootfs and package
t=$SECONDS
rootfs="$(scripts/systemd-test/rootfs.sh)" || { notok "rootfs: debootstrap bookworm"; finish; }
ok "rootfs ready: $rootfs ($((SECONDS - t)) s)"
if [ -z "$deb" ]; then
  t=$SECONDS
  if deb="$(scripts/package-deb.sh --no-lintian 2>"$work/package.log")" && [ -f "$deb" ]; then
    deb="$(realpath "$deb")"
    ok "scripts/package-deb.sh built $(basename "$deb") ($((SECONDS - t)) s)"
  else
    tail -n 30 "$work/package.log" | sed 's/^/#   /'; notok "scripts/package-deb.sh"; finish
  fi
fi
pkg_version="$(dpkg-deb -f "$deb" Version)"

# ---------------------------------------------------------------- emulator on the host
start_emulator emu_pid emulator 3 30 7 || { notok "emulator started"; finish; }
emu="$emulator_url"
mapfile -t playlists < <(readable_playlists "$emu")
[ "${#playlists[@]}" -ge 2 ] || { notok "emulator has >= 2 readable playlists"; finish; }

# ---------------------------------------------------------------- boot
t=$SECONDS
boot_container "$rootfs" "spotifyd-deb-$$" || finish
state="$(INSIDE_TIMEOUT=60 inside systemctl is-system-running --wait 2>&1)"
case "$state" in
  running|degraded) ok "container booted: $state ($((SECONDS - t)) s)" ;;
  *) notok "container booted: is-system-running = '$state'"; finish ;;
esac

if inside sh -c 'command -v swift || find / -xdev \( -name "libswift*" -o -name "libFoundation*.so" \) -print -quit | grep .' >"$work/swift.out" 2>&1; then
  notok "the rootfs has no Swift toolchain or runtime (found: $(head -n1 "$work/swift.out"))"
else
  ok "the rootfs has no Swift toolchain or runtime"
fi

# ---------------------------------------------------------------- apt install ./deb
t=$SECONDS
if INSIDE_TIMEOUT=300 inside sh -c 'apt-get update -q && apt-get install -y -q --no-install-recommends man-db' >"$work/apt-prep.log" 2>&1; then
  ok "apt-get update; apt-get install man-db ($((SECONDS - t)) s)"
else
  notok "apt-get update; apt-get install man-db"; tail -n 15 "$work/apt-prep.log" | sed 's/^/#   /'
fi
cp "$deb" "$(cpath /root/)"
debname="$(basename "$deb")"
t=$SECONDS
if INSIDE_TIMEOUT=300 inside sh -c "cd /root && apt install -y ./$debname" >"$work/apt-install.log" 2>&1; then
  ok "apt install ./$debname ($((SECONDS - t)) s)"
else
  notok "apt install ./$debname"; tail -n 30 "$work/apt-install.log" | sed 's/^/#   /'; finish
fi
grep -E '^(Setting up|spotifyd-etl:|  )' "$work/apt-install.log" | sed 's/^/#   apt: /' | head -n 12
status="$(inside dpkg-query -W -f='${db:Status-Abbrev} ${Version}' spotifyd-etl 2>&1)"
if [ "$status" = "ii  $pkg_version" ]; then ok "dpkg: spotifyd-etl $pkg_version installed (ii)"; else notok "dpkg status '$status'"; fi
inside dpkg -L spotifyd-etl | LC_ALL=C sort >"$work/files.list"
check "package files: binary, unit, sysusers, conffile, man pages (1 + per subcommand + toml.5), completions, docs, DDL" \
  bash -c '
  for p in /usr/bin/spotifyd-etl /lib/systemd/system/spotifyd-etl.service /usr/lib/sysusers.d/spotifyd-etl.conf \
    /etc/spotifyd-etl/spotifyd-etl.toml /usr/share/man/man1/spotifyd-etl.1.gz /usr/share/man/man1/spotifyd-etl-run.1.gz \
    /usr/share/man/man1/spotifyd-etl-check-config.1.gz /usr/share/man/man1/spotifyd-etl-status.1.gz \
    /usr/share/man/man1/spotifyd-etl-poll.1.gz /usr/share/man/man1/spotifyd-etl-flush.1.gz \
    /usr/share/man/man1/spotifyd-etl-login.1.gz /usr/share/man/man5/spotifyd-etl.toml.5.gz \
    /usr/share/bash-completion/completions/spotifyd-etl /usr/share/zsh/vendor-completions/_spotifyd-etl \
    /usr/share/fish/vendor_completions.d/spotifyd-etl.fish /usr/share/doc/spotifyd-etl/copyright \
    /usr/share/doc/spotifyd-etl/README.md.gz /usr/share/doc/spotifyd-etl/snowflake/spotifyd-etl.sql; do
    grep -qxF "$p" "$1" || { echo "missing: $p"; exit 1; }; done' _ "$work/files.list"
conffiles="$(inside dpkg-query -W -f='${Conffiles}' spotifyd-etl)"
if printf '%s' "$conffiles" | grep -q '^ /etc/spotifyd-etl/spotifyd-etl.toml [0-9a-f]\{32\}$'; then
  ok "/etc/spotifyd-etl/spotifyd-etl.toml is a conffile"
else
  notok "/etc/spotifyd-etl/spotifyd-etl.toml is a conffile (Conffiles: $conffiles)"
fi
check "every shared library of /usr/bin/spotifyd-etl resolves (Depends pulled them in), no libswift" \
  bash -c "out=\$(nsenter -t $leader -a -r -w -- ldd /usr/bin/spotifyd-etl) && ! printf '%s' \"\$out\" | grep -E 'not found|libswift'"
check "the unit's Exec*= lines run /usr/bin/spotifyd-etl" bash -c "
  grep -E '^Exec(Start|Reload)=' '$(cpath /lib/systemd/system/spotifyd-etl.service)' | grep -q /usr/bin/spotifyd-etl &&
  ! grep -q /usr/local '$(cpath /lib/systemd/system/spotifyd-etl.service)'"
en="$(inside systemctl is-enabled spotifyd-etl 2>&1)"; act="$(inside systemctl is-active spotifyd-etl 2>&1)"
if [ "$en" = enabled ] && [ "$act" = inactive ]; then
  ok "after install: enabled, not started (is-enabled $en, is-active $act)"
else
  notok "after install: want enabled + inactive, got is-enabled '$en', is-active '$act'"
fi
grp="$(inside getent group spotifyd-etl)"; usr="$(inside getent passwd spotifyd-etl)"
if [ -n "$grp" ] && [ -n "$usr" ]; then ok "systemd-sysusers created the static group and user ($grp)"; else notok "static group/user spotifyd-etl: '$grp' '$usr'"; fi
cred="$(cpath /etc/spotifyd-etl/credentials)"
check "postinst made /etc/spotifyd-etl/credentials 0700 with an empty 0600 file per LoadCredential=" bash -c "
  [ \"\$(stat -c %a '$cred')\" = 700 ] &&
  for f in SPOTIFY_CLIENT_ID SPOTIFY_CLIENT_SECRET SPOTIFY_REFRESH_TOKEN AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN; do
    [ \"\$(stat -c %a '$cred'/\$f)\" = 600 ] && [ ! -s '$cred'/\$f ] || exit 1; done"
sec="$(inside systemd-analyze security --no-pager spotifyd-etl.service 2>&1 | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')"
if [ -n "$sec" ] && awk -v e="$sec" 'BEGIN { exit !(e <= 1.5) }'; then
  ok "systemd-analyze security spotifyd-etl.service (installed unit): exposure $sec <= 1.5"
else
  notok "systemd-analyze security spotifyd-etl.service: exposure '${sec:-?}' > 1.5"
fi

# ---------------------------------------------------------------- run it against the emulator
printf 'test-client\n' >"$cred/SPOTIFY_CLIENT_ID"
printf 'test-secret\n' >"$cred/SPOTIFY_CLIENT_SECRET"
{
  cat <<TOML
# spotifyd-etl .deb install test (scripts/systemd-test/deb-install.sh)
[spotify]
api_url = "$emu/v1"
accounts_url = "$emu"
request_timeout = "10s"

TOML
  for id in "${playlists[@]}"; do printf '[[playlists]]\nid = "%s"\n\n' "$id"; done
  cat <<TOML
[schedule]
interval = "1h"
jitter = 0.0

[sink]
kind = "local"
path = "/var/lib/spotifyd-etl/out"
max_age = "1h"
TOML
} >"$(cpath /etc/spotifyd-etl/spotifyd-etl.toml)"
t=$SECONDS
start_out="$(INSIDE_TIMEOUT=90 inside systemctl start spotifyd-etl 2>&1)"
state="$(prop ActiveState)/$(prop SubState)"
if [ "$state" = active/running ]; then
  ok "systemctl start: active/running as $(inside ps -o user= -p "$(prop MainPID)" | tr -d ' ') ($((SECONDS - t)) s), STATUS=\"$(prop StatusText)\""
else
  notok "systemctl start: $state $start_out"
  inside journalctl -u spotifyd-etl --no-pager -n 30 | sed 's/^/#   /'
fi
if wait_for 40 polled "${playlists[0]}" && wait_for 20 polled "${playlists[1]}"; then
  ok "the daemon polled the emulator's playlists (journal PLAYLIST_ID entries)"
else
  notok "the daemon polled the emulator's playlists"; inside journalctl -u spotifyd-etl --no-pager -n 20 | sed 's/^/#   /'
fi
sock_mode="$(inside stat -c '%a %G' /run/spotifyd-etl/control.sock 2>&1)"
if [ "$sock_mode" = "660 spotifyd-etl" ]; then ok "control socket is 0660, group spotifyd-etl"; else notok "control socket mode/group: '$sock_mode'"; fi

# An operator in the group, an outsider not; both with their own primary group, as useradd
# makes them. `status` with no flags reads the socket path from /etc/spotifyd-etl/spotifyd-etl.toml.
# (Debian has a group called operator already: hence etl-operator.)
inside useradd -m -s /bin/sh -G spotifyd-etl etl-operator
inside useradd -m -s /bin/sh outsider
out="$(inside setpriv --reuid=etl-operator --regid=etl-operator --init-groups spotifyd-etl status 2>&1)"; rc=$?
if [ "$rc" = 0 ] && printf '%s' "$out" | grep -qF "${playlists[0]}"; then
  ok "spotifyd-etl status as 'etl-operator' (member of spotifyd-etl, not root) lists the playlists"
else
  notok "spotifyd-etl status as a group member (exit $rc)"; printf '%s\n' "$out" | head -n 5 | sed 's/^/#   /'
fi
out="$(inside setpriv --reuid=etl-operator --regid=etl-operator --init-groups spotifyd-etl flush 2>&1)"; rc=$?
if [ "$rc" = 0 ]; then ok "spotifyd-etl flush as 'etl-operator' succeeds"; else notok "spotifyd-etl flush as 'etl-operator' (exit $rc: $(printf '%s' "$out" | head -n1))"; fi
objects() { inside find /var/lib/private/spotifyd-etl/out -type f -name '*.ndjson.gz' | grep -c .; }
if wait_for 30 test "$(objects)" -ge 1 2>/dev/null; then ok "flushed objects in the local sink ($(objects))"; else notok "flushed objects in the local sink"; fi
out="$(inside setpriv --reuid=outsider --regid=outsider --init-groups spotifyd-etl status 2>&1)"; rc=$?
if [ "$rc" != 0 ] && printf '%s' "$out" | grep -qiE 'permission|denied'; then
  ok "spotifyd-etl status as 'outsider' (not in the group) is refused (exit $rc: $(printf '%s' "$out" | head -n1))"
else
  notok "spotifyd-etl status as 'outsider' must be refused (exit $rc: $out)"
fi

# ---------------------------------------------------------------- man
man_out="$(inside env MANWIDTH=80 man -P cat spotifyd-etl 2>&1)"
if printf '%s' "$man_out" | grep -q '^NAME' && printf '%s' "$man_out" | grep -q 'spotifyd-etl'; then
  ok "man spotifyd-etl renders:"
  printf '%s\n' "$man_out" | head -n 8 | sed 's/^/#   /'
else
  notok "man spotifyd-etl renders"; printf '%s\n' "$man_out" | head -n 8 | sed 's/^/#   /'
fi
check "man spotifyd-etl-status and man 5 spotifyd-etl.toml render" bash -c "
  nsenter -t $leader -a -r -w -- env MANWIDTH=80 man -P cat spotifyd-etl-status | grep -q '^SYNOPSIS' &&
  nsenter -t $leader -a -r -w -- env MANWIDTH=80 man -P cat 5 spotifyd-etl.toml | grep -q 'max_rows'"
check "bash completion completes subcommands" bash -c "
  nsenter -t $leader -a -r -w -- bash -c 'source /usr/share/bash-completion/completions/spotifyd-etl &&
    COMP_WORDS=(spotifyd-etl st) COMP_CWORD=1 COMP_LINE=\"spotifyd-etl st\" COMP_POINT=15 && _spotifyd-etl && printf \"%s\n\" \"\${COMPREPLY[@]}\"' | grep -qx status"

# ---------------------------------------------------------------- upgrade path
# Installing the package over itself runs postinst as an upgrade does (configure with the old
# version): the edited conffile and the credentials stay, the running daemon is restarted.
pid_before="$(prop MainPID)"
t=$SECONDS
if INSIDE_TIMEOUT=120 inside sh -c "cd /root && apt-get install -y --reinstall ./$debname" </dev/null >"$work/reinstall.log" 2>&1; then
  ok "apt-get install --reinstall ./$debname ($((SECONDS - t)) s)"
else
  notok "apt-get install --reinstall ./$debname"; tail -n 20 "$work/reinstall.log" | sed 's/^/#   /'
fi
pid_after="$(prop MainPID)"
if grep -q 'deb-install.sh' "$(cpath /etc/spotifyd-etl/spotifyd-etl.toml)" \
   && [ "$(cat "$cred/SPOTIFY_CLIENT_ID")" = test-client ] \
   && [ "$(prop ActiveState)" = active ] && [ "$pid_after" != 0 ] && [ "$pid_after" != "$pid_before" ]; then
  ok "after the reinstall: edited config and credentials kept, daemon restarted (pid $pid_before -> $pid_after)"
else
  notok "after the reinstall: config kept, credentials kept, restarted (pid $pid_before -> $pid_after, $(prop ActiveState))"
fi

# ---------------------------------------------------------------- purge
inside find / -xdev \( -path /proc -o -path /sys -o -path /root -o -path /var/log/journal -o -path /var/cache/man \) -prune -o \
  -name '*spotifyd-etl*' -print 2>/dev/null | LC_ALL=C sort >"$work/before-purge.list"
t=$SECONDS
if INSIDE_TIMEOUT=120 inside apt-get purge -y spotifyd-etl >"$work/purge.log" 2>&1; then
  ok "apt-get purge -y spotifyd-etl ($((SECONDS - t)) s)"
else
  notok "apt-get purge -y spotifyd-etl"; tail -n 20 "$work/purge.log" | sed 's/^/#   /'
fi
status="$(inside dpkg-query -W -f='${db:Status-Abbrev}' spotifyd-etl 2>/dev/null)"
if [ -z "$status" ] || [ "${status:0:2}" = "un" ] || [ "${status:0:2}" = "pn" ]; then
  ok "dpkg -l no longer lists spotifyd-etl as installed (status '${status:-unknown}')"
else
  notok "dpkg status after purge: '$status'"
fi
left=()
while read -r p; do
  [ -e "$(cpath "$p")" ] || [ -L "$(cpath "$p")" ] || continue
  # Shared directories (/usr/bin, /lib -> usr/lib, ...) stay; the package's own go.
  [ -d "$(cpath "$p")" ] && case "$p" in *spotifyd-etl*) ;; *) continue ;; esac
  left+=("$p")
done <"$work/files.list"
if [ "${#left[@]}" = 0 ]; then ok "every file of dpkg -L is gone ($(wc -l <"$work/files.list") entries)"; else notok "left after purge: ${left[*]}"; fi
# Not counted: the journal, /root (the .deb itself) and /var/cache/man (man-db's cache of
# formatted pages from the `man` runs above; man-db expires it, no package removes it).
after="$(inside find / -xdev \( -path /proc -o -path /sys -o -path /root -o -path /var/log/journal -o -path /var/cache/man \) -prune -o \
  -name '*spotifyd-etl*' -print 2>/dev/null | LC_ALL=C sort)"
if [ -z "$after" ]; then
  ok "no path named *spotifyd-etl* left (before purge: $(wc -l <"$work/before-purge.list") paths, incl. /etc/spotifyd-etl, /var/lib/private/spotifyd-etl, the wants/ link)"
else
  notok "paths left after purge: $(printf '%s ' $after)"
fi
lf="$(inside systemctl list-unit-files --no-legend spotifyd-etl.service 2>&1)"
if [ -z "$lf" ] || printf '%s' "$lf" | grep -q '0 unit files'; then ok "systemd no longer knows spotifyd-etl.service"; else notok "systemctl list-unit-files after purge: $lf"; fi
finish
