#!/usr/bin/env bash
# Real-systemd test of spotifyd-etl: boots a minimal Debian bookworm rootfs with systemd-nspawn,
# installs the daemon with scripts/install.sh and drives it through systemctl/journalctl.
#
#   scripts/systemd-test/run.sh [--binary PATH] [--keep] [--infra-only]
#
#   --binary PATH  test this binary instead of building one (release, -static-stdlib)
#   --keep         leave the container running at the end (prints how to enter it; the test
#                  processes are then yours to stop: their PIDs are printed)
#   --infra-only   only the infrastructure checks (boot, install, check-config, run --once);
#                  no daemon-mode assertions
#   SYSTEMD_TEST_SINK=local|s3   where batches go (default: s3 if the build supports it and
#                  scripts/testsupport/moto_server.py exists, else local)
#
# Steps: 1. debootstrap a minbase rootfs (cached under .cache/systemd-rootfs/, see rootfs.sh);
# 2. build the binary with -static-stdlib; 3. boot the rootfs with
# `systemd-nspawn -b --register=no --keep-unit --volatile=overlay`, sharing the host network so
# the container reaches the Spotify emulator (and moto) on the host's loopback; the rootfs stays
# pristine, every change lands in a tmpfs overlay that vanishes with the container;
# 4. install the unit, a test config and credentials into the container.
# Then one line per assertion (`ok - ...` / `not ok - ...`), a final `N passed, M failed` line,
# exit status 1 on any failure. Needs root, systemd-nspawn (package systemd-container),
# debootstrap, nsenter/setpriv (util-linux), python3, curl.
#
# Only processes this script started are ever signalled, by PID: the emulator, moto,
# systemd-nspawn and, should nspawn not take the container down, the container's PID 1.
set -uo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

binary=""; keep=0; infra_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="$(realpath "${2:?}")"; shift 2 ;;
    --keep) keep=1; shift ;;
    --infra-only) infra_only=1; shift ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

[ "$(id -u)" = 0 ] || { echo "run.sh: needs root (systemd-nspawn)" >&2; exit 2; }
for tool in systemd-nspawn debootstrap nsenter python3 curl; do
  command -v "$tool" >/dev/null || { echo "run.sh: missing $tool (see docs/operations.md, 'Testing')" >&2; exit 2; }
done

t0=$SECONDS
work="$(mktemp -d /tmp/spotifyd-systemd-test.XXXXXX)"
passed=0; failed=0
emu_pid=""; moto_pid=""; nspawn_pid=""; leader=""

log() { printf '# %s\n' "$*"; }
ok() { passed=$((passed + 1)); echo "ok - $*"; }
notok() { failed=$((failed + 1)); echo "not ok - $*"; }
check() { # check "description" command...: ok when the command succeeds
  local what="$1"; shift
  if "$@" >"$work/check.out" 2>&1; then ok "$what"; else notok "$what"; sed 's/^/#   /' "$work/check.out" | tail -n 20; fi
}

cleanup() {
  local rc=$?
  if [ "$keep" = 1 ] && [ -n "$leader" ]; then
    log "kept: enter with: nsenter -t $leader -a -r -w /bin/bash"
    log "kept: stop with: kill -TERM $nspawn_pid; kill $emu_pid ${moto_pid}"
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
  [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null && wait "$emu_pid" 2>/dev/null
  [ -n "$moto_pid" ] && kill "$moto_pid" 2>/dev/null && wait "$moto_pid" 2>/dev/null
  if [ "$failed" -gt 0 ] || [ "$rc" != 0 ]; then
    log "logs kept in $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Run a command inside the container (all its namespaces, its root and cwd).
inside() { timeout "${INSIDE_TIMEOUT:-120}" nsenter -t "$leader" -a -r -w -- /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin LANG=C.UTF-8 SYSTEMD_PAGER= SYSTEMD_COLORS=0 "$@"; }
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

# ---------------------------------------------------------------- 1. rootfs
t=$SECONDS
rootfs="$(scripts/systemd-test/rootfs.sh)" || { notok "rootfs: debootstrap bookworm"; echo "0 passed, 1 failed"; exit 1; }
ok "rootfs ready: $rootfs ($((SECONDS - t)) s)"

# ---------------------------------------------------------------- 2. binary
if [ -z "$binary" ]; then
  t=$SECONDS
  if swift build -c release -Xswiftc -static-stdlib --product spotifyd-etl >"$work/build.log" 2>&1; then
    binary="$(swift build -c release -Xswiftc -static-stdlib --show-bin-path)/spotifyd-etl"
    ok "build release -static-stdlib ($((SECONDS - t)) s)"
  else
    tail -n 30 "$work/build.log" | sed 's/^/#   /'
    notok "build release -static-stdlib"; echo "$passed passed, $failed failed"; exit 1
  fi
fi
# The Swift runtime is static; the C libraries must come from the rootfs.
missing_libs="$(ldd "$binary" | awk '/=>/ {print $1}' \
  | grep -v -E '^(linux-vdso|ld-linux)' | while read -r lib; do
      find "$rootfs/lib" "$rootfs/usr/lib" -name "$lib" -print -quit | grep -q . || echo "$lib"; done)"
if [ -z "$missing_libs" ] && ! ldd "$binary" | grep -q 'libswift'; then
  ok "binary links no libswift*.so and every shared library it needs is in the rootfs"
else
  notok "binary libraries: missing in rootfs: ${missing_libs:-none}; swift libs: $(ldd "$binary" | grep -c libswift)"
fi

# ---------------------------------------------------------------- peers on the host
python3 scripts/emulator/spotify_emulator.py --port 0 --port-file "$work/emulator.port" \
  --scenario generated --playlists 6 --items 40 --seed 11 >"$work/emulator.log" 2>&1 &
emu_pid=$!
wait_for 20 test -s "$work/emulator.port" || { notok "emulator started"; exit 1; }
emu_port="$(cat "$work/emulator.port")"
emu="http://127.0.0.1:$emu_port"
mapfile -t all_playlists < <(curl -fsS "$emu/_emulator/truth" | python3 -c '
import json, sys
for p in json.load(sys.stdin)["playlists"]:
    if p.get("owned", True) and not p.get("dev_restricted", False):
        print(p["id"])')
[ "${#all_playlists[@]}" -ge 3 ] || { notok "emulator has >= 3 readable playlists"; exit 1; }
initial_playlists=("${all_playlists[0]}" "${all_playlists[1]}")
added_playlist="${all_playlists[2]}"

sink="${SYSTEMD_TEST_SINK:-}"
if [ -z "$sink" ]; then
  if [ -f scripts/testsupport/moto_server.py ] && ! grep -qaF 's3 sink not available in this build' "$binary"; then
    sink=s3
  else
    sink=local
  fi
fi
bucket=spotifyd-systemd-test
if [ "$sink" = s3 ]; then
  python3 scripts/testsupport/moto_server.py --port 0 --port-file "$work/moto.port" --bucket "$bucket" \
    >"$work/moto.log" 2>&1 &
  moto_pid=$!
  wait_for 60 test -s "$work/moto.port" || { notok "moto started"; tail "$work/moto.log"; exit 1; }
  moto="http://127.0.0.1:$(cat "$work/moto.port")"
  moto_keys="$(curl -fsS "$moto/_ts/state")"
fi
log "emulator $emu (pid $emu_pid), sink $sink${moto_pid:+, moto $moto (pid $moto_pid)}"

# ---------------------------------------------------------------- 3. boot
t=$SECONDS
# --volatile=overlay: the rootfs is the read-only lower layer of an overlayfs whose upper
# layer is a tmpfs, so the cached rootfs is never modified and teardown needs no cleanup.
systemd-nspawn -D "$rootfs" -b --register=no --keep-unit --volatile=overlay \
  --machine="spotifyd-test-$$" --console=read-only </dev/null >"$work/console.log" 2>&1 &
nspawn_pid=$!
# The container's PID 1 is nspawn's child running systemd.
for _ in $(seq 100); do
  leader="$(ps -o pid= --ppid "$nspawn_pid" 2>/dev/null | tr -d ' ' | head -n1)"
  # nspawn's short-lived intermediate child is also its child: wait for the one running systemd.
  [ -n "$leader" ] && [ "$(cat "/proc/$leader/comm" 2>/dev/null)" = systemd ] && break
  leader=""; sleep 0.1
done
if [ -z "$leader" ]; then
  notok "container booted"; tail -n 30 "$work/console.log" | sed 's/^/#   /'; echo "$passed passed, $failed failed"; exit 1
fi
# systemctl needs PID 1's private bus socket, which appears a moment after PID 1 starts.
wait_for 30 test -S "$(cpath /run/systemd/private)"
state="$(INSIDE_TIMEOUT=60 inside systemctl is-system-running --wait 2>&1)"
case "$state" in
  running|degraded) ok "container booted: systemctl is-system-running = $state ($((SECONDS - t)) s)" ;;
  *) notok "container booted: is-system-running = '$state'"; tail -n 30 "$work/console.log" | sed 's/^/#   /'
     inside systemctl --failed --no-legend 2>&1 | sed 's/^/#   /'
     echo "$passed passed, $failed failed"; exit 1 ;;
esac
[ "$state" = degraded ] && inside systemctl --failed --no-legend | sed 's/^/#   failed unit: /'

# ---------------------------------------------------------------- 4. install
check "scripts/install.sh --root <container> installs binary, unit, config, credentials" \
  scripts/install.sh --root "$(cpath "")" --binary "$binary"
cred="$(cpath /etc/spotifyd-etl/credentials)"
check "credentials dir is 0700 and placeholders are 0600" bash -c "
  [ \"\$(stat -c %a '$cred')\" = 700 ] &&
  for f in SPOTIFY_CLIENT_ID SPOTIFY_CLIENT_SECRET SPOTIFY_REFRESH_TOKEN AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN; do
    [ \"\$(stat -c %a '$cred'/\$f)\" = 600 ] || exit 1; done"
check "install.sh is idempotent and keeps an existing config" bash -c "
  echo '# operator edit' >>'$(cpath /etc/spotifyd-etl/spotifyd-etl.toml)' &&
  scripts/install.sh --root '$(cpath "")' --binary '$binary' >/dev/null &&
  grep -q '^# operator edit' '$(cpath /etc/spotifyd-etl/spotifyd-etl.toml)'"

printf 'test-client\n' >"$cred/SPOTIFY_CLIENT_ID"
printf 'test-secret\n' >"$cred/SPOTIFY_CLIENT_SECRET"
if [ "$sink" = s3 ]; then
  python3 -c 'import json,sys; print(json.loads(sys.argv[1])["access_key"])' "$moto_keys" >"$cred/AWS_ACCESS_KEY_ID"
  python3 -c 'import json,sys; print(json.loads(sys.argv[1])["secret_key"])' "$moto_keys" >"$cred/AWS_SECRET_ACCESS_KEY"
fi

# Each phase (run --once, then the daemon) writes under its own sink prefix/directory, so the
# daemon assertions never see the objects of run --once.
phase=once
# write_config MAX_AGE PLAYLIST...: the test config, pointing at the host's emulator and sink.
write_config() {
  local max_age="$1"; shift
  {
    cat <<TOML
# spotifyd-etl systemd test config (scripts/systemd-test/run.sh)
[spotify]
api_url = "$emu/v1"
accounts_url = "$emu"
auth = "client_credentials"
request_timeout = "10s"

TOML
    for id in "$@"; do printf '[[playlists]]\nid = "%s"\n\n' "$id"; done
    cat <<TOML
[schedule]
interval = "8s"
jitter = 0.0
concurrency = 2

[state]
path = "/var/lib/spotifyd-etl/state.db"

[sink]
TOML
    if [ "$sink" = s3 ]; then
      cat <<TOML
kind = "s3"
bucket = "$bucket"
prefix = "systemd-test/$phase/"
region = "us-east-1"
endpoint = "$moto"
path_style = true
TOML
    else
      printf 'kind = "local"\npath = "/var/lib/spotifyd-etl/%s"\n' "$phase"
    fi
    cat <<TOML
format = "ndjson"
compression = "gzip"
max_age = "$max_age"

[metrics]
interval = "3s"
namespace = "SpotifyETLTest"

[control]
socket = "/run/spotifyd-etl/control.sock"
TOML
  } >"$(cpath /etc/spotifyd-etl/spotifyd-etl.toml)"
}
# Batches are sealed by `spotifyd-etl flush` and on stop, not by age, so the test controls when
# objects appear.
write_config 1h "${initial_playlists[@]}"

# Short watchdog and restart delay for the SIGSTOP test; no core dumps from the watchdog abort.
install -d "$(cpath /etc/systemd/system/spotifyd-etl.service.d)"
cat >"$(cpath /etc/systemd/system/spotifyd-etl.service.d/test.conf)" <<'EOF'
[Service]
WatchdogSec=6s
RestartSec=1s
TimeoutAbortSec=5s
LimitCORE=0
EOF
inside systemctl daemon-reload

# objects_with TEXT: number of sink objects whose (decompressed) content contains TEXT.
objects_with() {
  if [ "$sink" = s3 ]; then
    python3 - "$moto" "$bucket" "systemd-test/$phase/" "$1" <<'PY'
import gzip, json, sys, urllib.request, xml.etree.ElementTree as ET
import boto3
base, bucket, prefix, text = sys.argv[1:]
keys = json.loads(urllib.request.urlopen(base + "/_ts/state").read())
s3 = boto3.client("s3", endpoint_url=base, region_name="us-east-1",
                  aws_access_key_id=keys["access_key"], aws_secret_access_key=keys["secret_key"])
n = 0
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
    for o in page.get("Contents", []):
        body = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
        if o["Key"].endswith(".gz"):
            body = gzip.decompress(body)
        n += text.encode() in body
print(n)
PY
  else
    local n=0 f
    while IFS= read -r -d '' f; do
      case "$f" in *.gz) zcat -- "$f" ;; *) cat -- "$f" ;; esac | grep -qF -- "$1" && n=$((n + 1))
    done < <(find "$(cpath "/var/lib/private/spotifyd-etl/$phase")" -type f ! -name '.*' -print0 2>/dev/null)
    echo "$n"
  fi
}
object_count() { objects_with ""; }
has_objects_with() { [ "$(objects_with "$1")" -ge 1 ]; }

# ---------------------------------------------------------------- infrastructure checks
creds_env="CREDENTIALS_DIRECTORY=/etc/spotifyd-etl/credentials"
check "check-config inside the container accepts the test config" \
  inside env "$creds_env" spotifyd-etl check-config --config /etc/spotifyd-etl/spotifyd-etl.toml
# `run --once` in a transient service with the unit's identity and credentials: proves the
# binary runs in the rootfs, reaches the host's emulator over loopback and writes its sink.
unit_creds=()
while read -r line; do unit_creds+=(-p "$line"); done < <(grep '^LoadCredential=' systemd/spotifyd-etl.service)
check "run --once as a DynamicUser transient service polls the emulator and flushes" \
  inside systemd-run --wait --pipe --quiet --collect --unit=spotifyd-etl-once \
    -p DynamicUser=yes -p StateDirectory=spotifyd-etl "${unit_creds[@]}" \
    /usr/local/bin/spotifyd-etl run --once --config /etc/spotifyd-etl/spotifyd-etl.toml
n="$(object_count)"
if [ "${n:-0}" -ge 1 ]; then ok "run --once wrote $n object(s) to the $sink sink"; else notok "run --once wrote objects to the $sink sink (found ${n:-none})"; fi

if [ "$infra_only" = 1 ]; then
  log "infra-only: skipping the daemon-mode assertions"
  echo "$passed passed, $failed failed ($((SECONDS - t0)) s)"
  [ "$failed" = 0 ]; exit
fi

# ---------------------------------------------------------------- daemon assertions
# Start from an empty state and a fresh sink prefix so the assertions below see only the
# daemon's work.
phase=daemon
write_config 1h "${initial_playlists[@]}"
inside rm -rf /var/lib/private/spotifyd-etl/state.db /var/lib/private/spotifyd-etl/state.db-wal \
  /var/lib/private/spotifyd-etl/state.db-shm

# 1. start reaches active (running) with a STATUS= line.
start_out="$(INSIDE_TIMEOUT=90 inside systemctl start spotifyd-etl 2>&1)"
state="$(prop ActiveState)/$(prop SubState)"; status_text="$(prop StatusText)"
if [ "$state" = active/running ] && [ -n "$status_text" ]; then
  ok "systemctl start: active (running), STATUS=\"$status_text\""
else
  notok "systemctl start: $state, STATUS=\"$status_text\" $start_out"
  inside journalctl -u spotifyd-etl --no-pager -n 30 | sed 's/^/#   /'
  log "the daemon did not start: the remaining daemon assertions were not run"
  echo "$passed passed, $failed failed ($((SECONDS - t0)) s)"
  exit 1
fi

# 2. playlists are polled (journal entries carrying PLAYLIST_ID) and flushed objects appear.
polled() { # polled ID: a journal entry of the current unit carries PLAYLIST_ID=ID
  inside journalctl -u spotifyd-etl -o json --no-pager "PLAYLIST_ID=$1" | grep -q .
}
if wait_for 40 polled "${initial_playlists[0]}" && wait_for 20 polled "${initial_playlists[1]}"; then
  ok "both configured playlists polled (journal PLAYLIST_ID entries)"
else
  notok "both configured playlists polled (journal PLAYLIST_ID entries)"
fi
check "spotifyd-etl flush (as root, over the control socket)" \
  inside spotifyd-etl flush --socket /run/spotifyd-etl/control.sock
if wait_for 30 has_objects_with "${initial_playlists[0]}"; then
  ok "objects with the polled playlists appear in the $sink sink ($(object_count) objects)"
else
  notok "objects with the polled playlists appear in the $sink sink ($(object_count) objects)"
fi

# 3. journal: custom fields and a valid EMF document (the first one after [metrics] interval).
emf_logged() { inside journalctl -u spotifyd-etl -o json --no-pager SPOTIFYD_EMF=1 | grep -q .; }
wait_for 20 emf_logged
inside journalctl -u spotifyd-etl -o json --no-pager >"$work/journal.json"
check "journal -o json: custom fields and at least one valid EMF document" python3 - "$work/journal.json" <<'PY'
import json, sys
entries = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
custom = [e for e in entries if "PLAYLIST_ID" in e]
assert custom, "no entry with PLAYLIST_ID"
emf_entries = [e for e in entries if e.get("SPOTIFYD_EMF") == "1"]
assert emf_entries, "no entry with SPOTIFYD_EMF=1"
valid = 0
for e in emf_entries:
    msg = e["MESSAGE"]
    if isinstance(msg, list):
        msg = bytes(msg).decode()
    doc = json.loads(msg)
    aws = doc["_aws"]
    assert isinstance(aws["Timestamp"], int)
    for d in aws["CloudWatchMetrics"]:
        assert d["Namespace"] == "SpotifyETLTest", d["Namespace"]
        for dims in d["Dimensions"]:
            for k in dims:
                assert k in doc, f"dimension {k} missing from the document"
        for m in d["Metrics"]:
            assert m["Name"] in doc, f"metric {m['Name']} has no value"
    valid += 1
print(f"{len(custom)} entries with PLAYLIST_ID, {valid} valid EMF documents")
PY

# 4. control socket: root may, an unprivileged user may not.
status_out="$(inside spotifyd-etl status --socket /run/spotifyd-etl/control.sock 2>&1)"; rc=$?
if [ "$rc" = 0 ] && printf '%s' "$status_out" | grep -qF "${initial_playlists[0]}"; then
  ok "spotifyd-etl status works inside as root (lists the configured playlists)"
else
  notok "spotifyd-etl status works inside as root (exit $rc)"; printf '%s\n' "$status_out" | sed 's/^/#   /'
fi
if printf '%s' "$status_out" | grep -qF test-secret || grep -qF test-secret "$work/journal.json"; then
  notok "the Spotify client secret appears in status output or the journal"
else
  ok "the Spotify client secret appears neither in status output nor in the journal"
fi
out="$(inside setpriv --reuid=nobody --regid=nogroup --clear-groups \
  spotifyd-etl status --socket /run/spotifyd-etl/control.sock 2>&1)"; rc=$?
if [ "$rc" != 0 ] && printf '%s' "$out" | grep -qiE 'permission|denied|not allowed|refused'; then
  ok "spotifyd-etl status refused for nobody (exit $rc: $(printf '%s' "$out" | head -n1))"
else
  notok "spotifyd-etl status refused for nobody (exit $rc: $out)"
fi

# 5. watchdog: a stopped daemon stops pinging; systemd kills and restarts it.
pid_before="$(prop MainPID)"; restarts_before="$(prop NRestarts)"
inside kill -STOP "$pid_before"
restarted() { local p; p="$(prop MainPID)"; [ "$p" != 0 ] && [ "$p" != "$pid_before" ] &&
  [ "$(prop NRestarts)" -gt "$restarts_before" ] && [ "$(prop ActiveState)" = active ]; }
if wait_for 40 restarted; then
  ok "SIGSTOP: watchdog killed pid $pid_before, restarted as pid $(prop MainPID) (NRestarts $(prop NRestarts))"
else
  notok "SIGSTOP: watchdog restart (MainPID $(prop MainPID), NRestarts $(prop NRestarts), $(prop ActiveState)/$(prop SubState))"
  inside kill -CONT "$pid_before" 2>/dev/null
fi
# journald writes systemd's message asynchronously: wait for it rather than read once.
watchdog_logged() { inside journalctl -u spotifyd-etl --no-pager | grep -q 'Watchdog timeout'; }
if wait_for 15 watchdog_logged; then
  ok "journal records the watchdog timeout"
else
  notok "journal records the watchdog timeout"
fi

# 6. reload with a changed playlist list takes effect without a restart.
pid_before="$(prop MainPID)"
write_config 1h "${initial_playlists[@]}" "$added_playlist"
reload_out="$(inside systemctl reload spotifyd-etl 2>&1)"; rc=$?
if [ "$rc" = 0 ] && wait_for 40 polled "$added_playlist" && [ "$(prop MainPID)" = "$pid_before" ]; then
  ok "systemctl reload: added playlist $added_playlist polled, same pid $pid_before"
else
  notok "systemctl reload: added playlist polled in the same process (rc $rc $reload_out; pid $(prop MainPID) vs $pid_before)"
fi

# 7. stop flushes the outbox: the added playlist's rows are only in the outbox (max_age 1h,
# no flush since) until the final flush on stop.
before="$(objects_with "$added_playlist")"
inside systemctl stop spotifyd-etl; rc=$?
after="$(objects_with "$added_playlist")"
result="$(prop Result)"
if [ "$rc" = 0 ] && [ "${before:-0}" = 0 ] && [ "${after:-0}" -ge 1 ] && [ "$result" = success ]; then
  ok "systemctl stop uploads the outbox before exit (objects with the added playlist: $before -> $after)"
else
  notok "systemctl stop uploads the outbox (rc $rc, result $result, objects with added playlist: $before -> $after)"
fi

# 8. bad config: failed with status 78, no restart loop.
printf '[spotify]\nno_such_key = 1\n' >"$(cpath /etc/spotifyd-etl/spotifyd-etl.toml)"
inside systemctl start spotifyd-etl >/dev/null 2>&1
sleep 5  # > 4 x RestartSec: a restart loop would have shown by now
st="$(prop ActiveState) $(prop Result) $(prop ExecMainStatus) $(prop NRestarts)"
# NRestarts counts automatic restarts since the last manual start.
if [ "$st" = "failed exit-code 78 0" ]; then
  ok "bad config: unit failed, exit status 78, no restart (NRestarts 0)"
else
  notok "bad config: want 'failed exit-code 78 0' (ActiveState Result ExecMainStatus NRestarts), got '$st'"
fi

echo "$passed passed, $failed failed ($((SECONDS - t0)) s)"
[ "$failed" = 0 ]
