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
# Daemon-mode assertions: start, polls, flush, journal fields and EMF, control socket access,
# SIGSTOP -> watchdog restart, reload, stop flushes, bad config -> 78; then with WatchdogSec=2s
# (a second emulator with 60 slowed playlists): no watchdog timeout during and after the
# initial load, status watchdog.max_gap_s <= 1.5; and a wedged flusher (a FIFO at the spool
# temp path it opens next, so open(2) blocks in the kernel): systemd must time it out and
# restart it, and the restarted daemon delivers the batch. With the contract's 75 s flusher
# deadline that last part takes ~80-90 s.
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
# log/ok/notok/check/finish, cleanup, inside/cpath/wait_for/prop/polled, boot_container,
# start_emulator, readable_playlists.
. "$root/scripts/systemd-test/lib.sh"
emu_pid=""; emu2_pid=""; moto_pid=""
helper_pid_vars="emu_pid emu2_pid moto_pid"
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- 1. rootfs
t=$SECONDS
rootfs="$(scripts/systemd-test/rootfs.sh)" || { notok "rootfs: debootstrap bookworm"; finish; }
ok "rootfs ready: $rootfs ($((SECONDS - t)) s)"

# ---------------------------------------------------------------- 2. binary
if [ -z "$binary" ]; then
  t=$SECONDS
  if swift build -c release -Xswiftc -static-stdlib --product spotifyd-etl >"$work/build.log" 2>&1; then
    binary="$(swift build -c release -Xswiftc -static-stdlib --show-bin-path)/spotifyd-etl"
    ok "build release -static-stdlib ($((SECONDS - t)) s)"
  else
    tail -n 30 "$work/build.log" | sed 's/^/#   /'
    notok "build release -static-stdlib"; finish
  fi
fi
# The Swift runtime is static; the C libraries must come from the rootfs.
missing_libs="$(ldd "$binary" | awk '/=>/ {print $1}' \
  | grep -v -E '^(linux-vdso|ld-linux)' | while read -r lib; do
      find "$rootfs/lib" "$rootfs/usr/lib" -name "$lib" -print -quit | matches . || echo "$lib"; done)"
if [ -z "$missing_libs" ] && ! ldd "$binary" | matches 'libswift'; then
  ok "binary links no libswift*.so and every shared library it needs is in the rootfs"
else
  notok "binary libraries: missing in rootfs: ${missing_libs:-none}; swift libs: $(ldd "$binary" | grep -c libswift)"
fi

# ---------------------------------------------------------------- peers on the host
start_emulator emu_pid emulator 6 40 11 || { notok "emulator started"; exit 1; }
emu="$emulator_url"
mapfile -t all_playlists < <(readable_playlists "$emu")
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
boot_container "$rootfs" "spotifyd-test-$$" || finish
state="$(INSIDE_TIMEOUT=60 inside systemctl is-system-running --wait 2>&1)"
case "$state" in
  running|degraded) ok "container booted: systemctl is-system-running = $state ($((SECONDS - t)) s)" ;;
  *) notok "container booted: is-system-running = '$state'"; tail -n 30 "$work/console.log" | sed 's/^/#   /'
     inside systemctl --failed --no-legend 2>&1 | sed 's/^/#   /'
     finish ;;
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
api_url = "${spotify_emu:-$emu}/v1"
accounts_url = "${spotify_emu:-$emu}"
auth = "client_credentials"
request_timeout = "10s"

TOML
    for id in "$@"; do printf '[[playlists]]\nid = "%s"\n\n' "$id"; done
    cat <<TOML
[schedule]
interval = "10s"
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
      case "$f" in *.gz) zcat -- "$f" ;; *) cat -- "$f" ;; esac | matches -F -- "$1" && n=$((n + 1))
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
  finish
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
  finish
fi

# 2. playlists are polled (journal entries carrying PLAYLIST_ID) and flushed objects appear.
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
emf_logged() { inside journalctl -u spotifyd-etl -o json --no-pager SPOTIFYD_EMF=1 | matches .; }
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
if [ "$rc" = 0 ] && printf '%s' "$status_out" | matches -F "${initial_playlists[0]}"; then
  ok "spotifyd-etl status works inside as root (lists the configured playlists)"
else
  notok "spotifyd-etl status works inside as root (exit $rc)"; printf '%s\n' "$status_out" | sed 's/^/#   /'
fi
if printf '%s' "$status_out" | matches -F test-secret || matches -F test-secret "$work/journal.json"; then
  notok "the Spotify client secret appears in status output or the journal"
else
  ok "the Spotify client secret appears neither in status output nor in the journal"
fi
out="$(inside setpriv --reuid=nobody --regid=nogroup --clear-groups \
  spotifyd-etl status --socket /run/spotifyd-etl/control.sock 2>&1)"; rc=$?
if [ "$rc" != 0 ] && printf '%s' "$out" | matches -iE 'permission|denied|not allowed|refused'; then
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
watchdog_logged() { inside journalctl -u spotifyd-etl --no-pager | matches 'Watchdog timeout'; }
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

# 6b. reload with a bad config fails visibly (ExecReload= runs check-config first) and the
# running daemon keeps its config: same pid, still active, no SIGHUP sent.
cp "$(cpath /etc/spotifyd-etl/spotifyd-etl.toml)" "$work/good.toml"
printf '[schedule]\nconcurrency = "many"\n' >"$(cpath /etc/spotifyd-etl/spotifyd-etl.toml)"
reload_out="$(inside systemctl reload spotifyd-etl 2>&1)"; rc=$?
bad_reload_journal="$(inside journalctl -u spotifyd-etl --no-pager -n 40 2>&1)"
if [ "$rc" != 0 ] && [ "$(prop MainPID)" = "$pid_before" ] && [ "$(prop ActiveState)" = active ] \
   && printf '%s' "$bad_reload_journal" | matches 'concurrency' \
   && ! printf '%s' "$bad_reload_journal" | matches 'reload rejected'; then
  ok "systemctl reload with a bad config fails (rc $rc), names the key, daemon keeps running (pid $pid_before)"
else
  notok "systemctl reload with a bad config: rc $rc ($reload_out), pid $(prop MainPID) vs $pid_before, $(prop ActiveState)"
  printf '%s\n' "$bad_reload_journal" | tail -n 10 | sed 's/^/#   /'
fi
cp "$work/good.toml" "$(cpath /etc/spotifyd-etl/spotifyd-etl.toml)"

# 6c. a journal you can read: -u shows messages that name what they are about; the EMF
# documents carry their own identifier, so -t spotifyd-etl shows the log without them and
# -t spotifyd-etl-metrics only them.
journal_u="$(inside journalctl -u spotifyd-etl --no-pager -o cat 2>&1)"
if printf '%s' "$journal_u" | matches -E '^snapshot committed: playlist [0-9A-Za-z]{22} ".*": \+[0-9,]+ −[0-9,]+, [0-9,]+ rows' \
   && printf '%s' "$journal_u" | matches -E '^batch uploaded: [a-z_]+/dt=[0-9-]+/[a-z_]+-[0-9]{12}\.ndjson\.gz, [0-9,]+ rows, '; then
  ok "journalctl -u: 'snapshot committed: playlist <id> \"<name>\": +N −M, K rows' and 'batch uploaded: <key>, N rows, <size>'"
else
  notok "journalctl -u: messages name their playlist/key"; printf '%s\n' "$journal_u" | grep -E 'snapshot|batch' | head -n 5 | sed 's/^/#   /'
fi
t_log="$(inside journalctl -t spotifyd-etl --no-pager -o json 2>&1)"
t_emf="$(inside journalctl -t spotifyd-etl-metrics --no-pager -o json 2>&1)"
if printf '%s' "$t_log" | matches '"MESSAGE"' && ! printf '%s' "$t_log" | matches '"SPOTIFYD_EMF"' \
   && printf '%s' "$t_emf" | matches '"SPOTIFYD_EMF"' \
   && [ "$(printf '%s\n' "$t_emf" | grep -c '"MESSAGE"')" = "$(printf '%s\n' "$t_emf" | grep -c '"SPOTIFYD_EMF"')" ]; then
  ok "journalctl -t spotifyd-etl has no EMF entries; -t spotifyd-etl-metrics has only EMF entries"
else
  notok "journal identifiers: -t spotifyd-etl must hold no EMF, -t spotifyd-etl-metrics only EMF"
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

# ---------------------------------------------------------------- 9. WatchdogSec=2s, 60 playlists
# The watchdog contract: WATCHDOG=1 every WATCHDOG_USEC/2 while every component is alive. With
# WatchdogSec=2s and an initial load of 60 playlists that takes >= ~12 s (a second emulator,
# every playlist request delayed 100 ms: 4 requests x 60 playlists / concurrency 2), systemd
# must never time the daemon out, and the daemon's own account (status --json
# watchdog.max_gap_s) must show pings about every second.
t9=$SECONDS
start_emulator emu2_pid emulator2 60 250 29 || { notok "second emulator started"; exit 1; }
spotify_emu="$emulator_url"
mapfile -t wd_playlists < <(curl -fsS "$spotify_emu/_emulator/playlists" |
  python3 -c 'import json, sys; print("\n".join(json.load(sys.stdin)["ids"]))')
curl -fsS -X POST -H 'Content-Type: application/json' "$spotify_emu/_emulator/faults" \
  -d '{"path_regex": "^/v1/playlists/", "status": 0, "delay_ms": 100, "count": -1}' >/dev/null
phase=watchdog
write_config 2s "${wd_playlists[@]}"
printf '[Service]\nWatchdogSec=2s\n' >"$(cpath /etc/systemd/system/spotifyd-etl.service.d/zz-watchdog-2s.conf)"
inside systemctl daemon-reload
inside systemctl reset-failed spotifyd-etl 2>/dev/null
inside rm -rf /var/lib/private/spotifyd-etl/state.db /var/lib/private/spotifyd-etl/state.db-wal \
  /var/lib/private/spotifyd-etl/state.db-shm /var/lib/private/spotifyd-etl/spool
since9="$(date +%s)"
INSIDE_TIMEOUT=90 inside systemctl start spotifyd-etl
# status_json: the daemon's status --json (empty when it does not answer).
status_json() { inside spotifyd-etl status --json --socket /run/spotifyd-etl/control.sock 2>/dev/null; }
# all_polled: every configured playlist has a last poll.
all_polled() {
  status_json | python3 -c 'import json, sys
pl = json.load(sys.stdin)["playlists"]
sys.exit(0 if pl and all(p.get("last_poll") for p in pl) else 1)' 2>/dev/null
}
restarts_seen=0; state_bad=""; load_start=$SECONDS; loaded_after=""
# Watch during the load and for 10 s after it: NRestarts must stay 0, the unit active.
while [ $((SECONDS - load_start)) -lt 120 ]; do
  n="$(prop NRestarts)"; [ "${n:-0}" -gt "$restarts_seen" ] && restarts_seen="$n"
  st="$(prop ActiveState)"; [ "$st" != active ] && state_bad="$st"
  if [ -z "$loaded_after" ] && all_polled; then loaded_after=$((SECONDS - load_start)); fi
  [ -n "$loaded_after" ] && [ $((SECONDS - load_start)) -ge $((loaded_after + 10)) ] && break
  sleep 1
done
if [ -n "$loaded_after" ] && [ "$loaded_after" -ge 8 ]; then
  ok "WatchdogSec=2s: initial load of ${#wd_playlists[@]} playlists completed (${loaded_after} s, >= 8 s of polling)"
else
  notok "WatchdogSec=2s: initial load of ${#wd_playlists[@]} playlists completed in >= 8 s (took ${loaded_after:-> 120} s)"
fi
if [ "$restarts_seen" = 0 ] && [ -z "$state_bad" ] && [ "$(prop NRestarts)" = 0 ]; then
  ok "WatchdogSec=2s: NRestarts stayed 0 and the unit active during and 10 s after the initial load"
else
  notok "WatchdogSec=2s: NRestarts $restarts_seen (now $(prop NRestarts)), ActiveState seen '${state_bad:-active}'"
fi
if inside journalctl -u spotifyd-etl --no-pager --since "@$since9" | matches 'Watchdog timeout'; then
  notok "WatchdogSec=2s: no 'Watchdog timeout' in the journal"
  inside journalctl -u spotifyd-etl --no-pager --since "@$since9" | grep -B3 'Watchdog timeout' | head -n 20 | sed 's/^/#   /'
else
  ok "WatchdogSec=2s: no 'Watchdog timeout' in the journal"
fi
wd_json="$(status_json | python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin).get("watchdog", {})))' 2>/dev/null)"
if printf '%s' "$wd_json" | matches '"max_gap_s"'; then
  check "WatchdogSec=2s: status watchdog.max_gap_s <= 1.5 (pings about every 1 s): $wd_json" \
    python3 -c 'import json, sys; w = json.loads(sys.argv[1]); assert w["state"] == "ok", w; assert w["max_gap_s"] <= 1.5, w' "$wd_json"
else
  log "skipped: status --json has no watchdog.max_gap_s (older daemon: ${wd_json:-no answer}); the pings-every-1-s check needs it"
fi
log "section 9 (WatchdogSec=2s, ${#wd_playlists[@]} playlists) took $((SECONDS - t9)) s"

# ---------------------------------------------------------------- 10. a wedged flusher
# A real kernel-level wedge: a FIFO sits at the spool temp path the flusher opens next
# (<state dir>/spool/<key with / -> _>.tmp-<pid>, see BatchFileWriter), so its
# open(O_WRONLY|O_CREAT|O_TRUNC) blocks in the kernel until a reader comes, i.e. forever. The
# flusher is busy without progress: the pings must stop (the contract's flusher deadline is
# 75 s), systemd must log a watchdog timeout and restart the unit, and the new process
# (another pid, so another temp name) must deliver the batch.
t10=$SECONDS
spool_dir="$(cpath /var/lib/private/spotifyd-etl/spool)"
wedge_pid="$(prop MainPID)"; restarts_before="$(prop NRestarts)"
# The initial load's batches must be out first, so the next batch is the wedge's.
drained() {
  status_json | python3 -c 'import json, sys
s = json.load(sys.stdin)
sys.exit(0 if s.get("pending_batches", 0) == 0 and sum(o.get("rows", 0) for o in s.get("outbox", [])) == 0 else 1)' 2>/dev/null
}
wait_for 60 drained || log "outbox not drained before the wedge; continuing"
# Batch ids come from one AUTOINCREMENT sequence and every sealed batch is uploaded by now, so
# the next id is one past the highest id in the object names (<table>-<12-digit id>.<ext>).
max_batch_id() {
  if [ "$sink" = s3 ]; then
    python3 - "$moto" "$bucket" "systemd-test/$phase/" <<'PY'
import json, re, sys, urllib.request
import boto3
base, bucket, prefix = sys.argv[1:]
keys = json.loads(urllib.request.urlopen(base + "/_ts/state").read())
s3 = boto3.client("s3", endpoint_url=base, region_name="us-east-1",
                  aws_access_key_id=keys["access_key"], aws_secret_access_key=keys["secret_key"])
ids = [0]
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
    for o in page.get("Contents", []):
        m = re.search(r"-(\d{12})\.", o["Key"])
        if m:
            ids.append(int(m.group(1)))
print(max(ids))
PY
  else
    find "$(cpath "/var/lib/private/spotifyd-etl/$phase")" -type f -name '*-[0-9]*.*' ! -name '*.tmp-*' -printf '%f\n' 2>/dev/null |
      sed -nE 's/.*-([0-9]{12})\..*/\1/p' | sort -n | tail -n1 | sed 's/^0*//;s/^$/0/'
  fi
}
next_id=$(( $(max_batch_id 2>"$work/next_id.err" || echo 0) + 1 ))
fifos=()
if [ -n "$wedge_pid" ] && [ "$wedge_pid" != 0 ] && [ -d "$spool_dir" ]; then
  for day in "$(date -u +%F)" "$(date -u -d '+1 day' +%F)"; do
    for table in playlists playlist_items tracks albums artists episodes rejects; do
      for id in $(seq "$next_id" $((next_id + 15))); do
        f="$spool_dir/${table}_dt=${day}_${table}-$(printf '%012d' "$id").ndjson.gz.tmp-$wedge_pid"
        mkfifo -m 0666 "$f" && fifos+=("$f")
      done
    done
  done
fi
log "wedge: ${#fifos[@]} FIFOs at the spool temp paths of pid $wedge_pid for batch ids $next_id.. ($(head -c 200 "$work/next_id.err"))"
wedge_name="wedge-$$-$RANDOM"
curl -fsS -X POST -H 'Content-Type: application/json' "$spotify_emu/_emulator/mutate" \
  -d "{\"playlist_id\": \"${wd_playlists[0]}\", \"ops\": [{\"op\": \"rename\", \"name\": \"$wedge_name\"}, {\"op\": \"add\", \"count\": 2}]}" >/dev/null
inside spotifyd-etl poll "${wd_playlists[0]}" --socket /run/spotifyd-etl/control.sock >/dev/null
wedge_t=$SECONDS; since10="$(date +%s)"
# The flusher's thread then sleeps in the kernel's FIFO open (fs/pipe.c: wait_for_partner).
in_fifo_open() { inside sh -c "cat /proc/$wedge_pid/task/*/wchan 2>/dev/null; echo" | matches -E 'wait_for_partner|fifo_open|pipe'; }
if wait_for 20 in_fifo_open; then
  log "wedged: a thread of pid $wedge_pid sleeps in open(2) of a spool FIFO ($((SECONDS - wedge_t)) s after the change)"
else
  log "no thread of pid $wedge_pid seen in a FIFO open (wchan) within 20 s; waiting for the watchdog anyway"
fi
restarted10() { local p; p="$(prop MainPID)"; [ "$p" != 0 ] && [ "$p" != "$wedge_pid" ] &&
  [ "$(prop NRestarts)" -gt "$restarts_before" ] && [ "$(prop ActiveState)" = active ]; }
if wait_for 150 restarted10; then
  ok "wedged flusher: the watchdog restarted the unit $((SECONDS - wedge_t)) s after the wedge (pid $wedge_pid -> $(prop MainPID), NRestarts $(prop NRestarts))"
else
  notok "wedged flusher: restart within 150 s (MainPID $(prop MainPID), NRestarts $(prop NRestarts), $(prop ActiveState)/$(prop SubState))"
fi
wd10_logged() { inside journalctl -u spotifyd-etl --no-pager --since "@$since10" | matches 'Watchdog timeout'; }
if wait_for 15 wd10_logged; then
  ok "wedged flusher: the journal records it ($(inside journalctl -u spotifyd-etl --no-pager --since "@$since10" | grep -m1 -o 'Watchdog timeout.*'))"
else
  notok "wedged flusher: the journal records a watchdog timeout"
  # systemd's own lines about the unit (its kill and restart name the cause) and the daemon's.
  inside journalctl -u spotifyd-etl --no-pager --since "@$since10" |
    grep -E 'spotifyd-etl\.service:|watchdog' | tail -n 15 | sed 's/^/#   /'
fi
healthy() { status_json | python3 -c 'import json, sys; sys.exit(0 if json.load(sys.stdin)["watchdog"]["state"] == "ok" else 1)' 2>/dev/null; }
if wait_for 30 healthy; then
  ok "after the restart: status answers, watchdog state ok"
else
  notok "after the restart: status answers with watchdog state ok ($(status_json | head -c 300))"
fi
if wait_for 60 has_objects_with "$wedge_name"; then
  ok "after the restart: the wedged batch landed in the $sink sink"
else
  notok "after the restart: the wedged batch landed in the $sink sink"
fi
[ "${#fifos[@]}" -gt 0 ] && rm -f -- "${fifos[@]}"
log "section 10 (wedged flusher) took $((SECONDS - t10)) s"

finish
