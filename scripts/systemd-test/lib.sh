# Shared by run.sh and deb-install.sh (sourced, not run): the TAP-like report, the teardown,
# the systemd-nspawn container and the Spotify emulator on the host.
#
# The sourcing script sets, before it sources this file:
#   work             its temporary directory (logs; removed at the end unless something failed)
#   keep             1 to leave the container running at the end (--keep)
#   t0               $SECONDS at its start
# and may set afterwards:
#   helper_pid_vars  names of the variables that hold the PIDs of the host processes it
#                    started (emulator, moto), stopped by cleanup
#   inside_env       extra VAR=value words for the environment of every `inside` command
# cleanup is meant for `trap cleanup EXIT`.
#
# Only processes the sourcing script started are ever signalled, by PID: the helpers named in
# helper_pid_vars, systemd-nspawn and, should nspawn not take the container down, the
# container's PID 1.

passed=0; failed=0
nspawn_pid=""; leader=""
helper_pid_vars=""
inside_env=()

log() { printf '# %s\n' "$*"; }
ok() { passed=$((passed + 1)); echo "ok - $*"; }
notok() { failed=$((failed + 1)); echo "not ok - $*"; }
check() { # check "description" command...: ok when the command succeeds
  local what="$1"; shift
  if "$@" >"$work/check.out" 2>&1; then ok "$what"; else notok "$what"; sed 's/^/#   /' "$work/check.out" | tail -n 20; fi
}
# matches GREP-ARGS...: grep that reads all of its input and prints nothing. Not `grep -q`: it
# exits at the first match, the producer then dies of SIGPIPE once the pipe is full, and with
# pipefail a found match reads as a failure (a journal after a restart is easily > 64 KiB).
matches() { grep "$@" >/dev/null; }
# finish: the final `N passed, M failed` line; exits 0 only when nothing failed.
finish() { echo "$passed passed, $failed failed ($((SECONDS - t0)) s)"; [ "$failed" = 0 ]; exit; }

cleanup() {
  local rc=$? v pids=()
  for v in $helper_pid_vars; do pids+=("${!v}"); done
  if [ "$keep" = 1 ] && [ -n "$leader" ]; then
    log "kept: enter with: nsenter -t $leader -a -r -w /bin/bash"
    log "kept: stop with: kill -TERM $nspawn_pid; kill ${pids[*]}"
    return
  fi
  if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
    # SIGTERM makes nspawn ask the container's systemd for a clean poweroff.
    kill -TERM "$nspawn_pid" 2>/dev/null
    for _ in $(seq 150); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$nspawn_pid" 2>/dev/null; then
      log "container did not power off in 15 s; killing its PID 1 ($leader) and nspawn ($nspawn_pid)"
      [ -n "$leader" ] && kill -KILL "$leader" 2>/dev/null
      kill -KILL "$nspawn_pid" 2>/dev/null
    fi
    wait "$nspawn_pid" 2>/dev/null
  fi
  for v in "${pids[@]}"; do
    [ -n "$v" ] && kill "$v" 2>/dev/null && wait "$v" 2>/dev/null
  done
  if [ "$failed" -gt 0 ] || [ "$rc" != 0 ]; then
    log "logs kept in $work"
  else
    rm -rf "$work"
  fi
}

# Run a command inside the container (all its namespaces, its root and cwd).
inside() { timeout "${INSIDE_TIMEOUT:-120}" nsenter -t "$leader" -a -r -w -- /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin LANG=C.UTF-8 SYSTEMD_PAGER= SYSTEMD_COLORS=0 "${inside_env[@]}" "$@"; }
# Path of a container file as seen from the host.
cpath() { printf '/proc/%s/root%s' "$leader" "$1"; }
# wait_for SECONDS command...: polls every 0.5 s until the command succeeds.
wait_for() {
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.5
  done
}
prop() { inside systemctl show -P "$1" spotifyd-etl.service; }
polled() { # polled ID: a journal entry of the current unit carries PLAYLIST_ID=ID
  inside journalctl -u spotifyd-etl -o json --no-pager "PLAYLIST_ID=$1" | matches .
}

# boot_container ROOTFS MACHINE: boots ROOTFS with systemd-nspawn (sets nspawn_pid and leader,
# the container's PID 1) and waits for PID 1's private bus socket, so systemctl works. The
# container shares the host network, so it reaches the host's loopback. Returns 1, after a
# `not ok - container booted` with the console's tail, when no systemd PID 1 appears in 10 s.
boot_container() {
  # --volatile=overlay: the rootfs is the read-only lower layer of an overlayfs whose upper
  # layer is a tmpfs, so the cached rootfs is never modified and teardown needs no cleanup.
  systemd-nspawn -D "$1" -b --register=no --keep-unit --volatile=overlay \
    --machine="$2" --console=read-only </dev/null >"$work/console.log" 2>&1 &
  nspawn_pid=$!
  # The container's PID 1 is nspawn's child running systemd.
  for _ in $(seq 100); do
    leader="$(ps -o pid= --ppid "$nspawn_pid" 2>/dev/null | tr -d ' ' | head -n1)"
    # nspawn's short-lived intermediate child is also its child: wait for the one running systemd.
    [ -n "$leader" ] && [ "$(cat "/proc/$leader/comm" 2>/dev/null)" = systemd ] && break
    leader=""; sleep 0.1
  done
  if [ -z "$leader" ]; then
    notok "container booted"; tail -n 30 "$work/console.log" | sed 's/^/#   /'
    return 1
  fi
  # systemctl needs PID 1's private bus socket, which appears a moment after PID 1 starts.
  wait_for 30 test -S "$(cpath /run/systemd/private)"
  return 0
}

# start_emulator PID_VAR NAME PLAYLISTS ITEMS SEED: starts the Spotify emulator on the host's
# loopback with a generated scenario (log $work/NAME.log, port in $work/NAME.port), stores its
# PID in the variable PID_VAR (set even on failure, for cleanup) and its base URL in
# emulator_url. Returns 1 when it has not written its port within 20 s.
start_emulator() {
  python3 scripts/emulator/spotify_emulator.py --port 0 --port-file "$work/$2.port" \
    --scenario generated --playlists "$3" --items "$4" --seed "$5" >"$work/$2.log" 2>&1 &
  printf -v "$1" '%s' "$!"
  emulator_url=""
  wait_for 20 test -s "$work/$2.port" || return 1
  emulator_url="http://127.0.0.1:$(cat "$work/$2.port")"
}

# readable_playlists URL: the ids of the emulator's playlists the daemon can read (owned, not
# restricted in development mode), one a line.
readable_playlists() {
  curl -fsS "$1/_emulator/truth" | python3 -c '
import json, sys
for p in json.load(sys.stdin)["playlists"]:
    if p.get("owned", True) and not p.get("dev_restricted", False):
        print(p["id"])'
}
