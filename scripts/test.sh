#!/usr/bin/env bash
# Runs every test of spotifyd-etl. Installs what it needs first (apt and pip), then:
#   1. the Spotify emulator's and test peers' own self-tests (Python unittest),
#   2. the Snowflake DDL tests (pytest: sqlglot, DuckDB, fakesnow),
#   3. the Swift suite, which starts the Spotify emulator, moto and the other real peers
#      itself on loopback, then the daemon, health and state tests again under
#      ThreadSanitizer (.build-tsan/; fails on any report, from the tests or the daemon),
#   4. the chaos suite's ci profile (kill -9, S3 outage, 429 storms, 5xx, token expiry,
#      slow API, full disk, read-only state, garbage config, hostile answers, a slow S3
#      link, an IMDS outage, a poisoned outbox row, a corrupt state file, token rotation;
#      see docs/chaos.md), with 5 and 6 running alongside it,
#   5. the unit file checks (systemd-analyze security <= 1.5, verify) and the real-systemd
#      test: the daemon as a service in a booted bookworm container (systemd-nspawn),
#   6. the Debian package: scripts/package-deb.sh (lintian must report no errors), then
#      apt install/run/purge of it in the same container (scripts/systemd-test/deb-install.sh).
# The release and ThreadSanitizer builds run in the background from the start of 3 (see below).
# Exits non-zero if any part fails; every part runs regardless.
set -uo pipefail
cd "$(dirname "$0")/.."
# Each stage's start prints the seconds since the run began, so a CI log shows where the
# time goes (the budget is 40 minutes).
t_start=$SECONDS
stage() { echo "== [$((SECONDS - t_start)) s] $*"; }
stage "install: apt and pip dependencies, S3 peers"
scripts/install-deps.sh --test || exit 1
failed=()

stage "python: emulator and test-peer self-tests"
for t in scripts/emulator/test_*.py scripts/testsupport/test_*.py; do
  [ -e "$t" ] || continue
  python3 -m unittest "$t" || failed+=("$t")
done

stage "pytest: Snowflake DDL"
python3 -m pytest Tests/snowflake -q -p no:cacheprovider || failed+=("Tests/snowflake")

# Background builds. The release build (package and real-systemd test) and the ThreadSanitizer
# build are CPU work that needs nothing from the stages before them but the sources; the Swift
# suite and the chaos suite mostly wait on peers and daemons. So both builds start once the debug
# build is done, one after the other at nice 19 (the foreground tests keep the CPU whenever they
# want it), and the stages that need them wait for them. Each has its own scratch path, so no
# SwiftPM lock is shared with the foreground. The systemd test's bookworm rootfs (a cached
# debootstrap, network-bound) is prepared alongside.
bg_logs="$(mktemp -d /tmp/spotifyd-ci-bg.XXXXXX)"
start_background_builds() {
  ( nice -n 19 swift build --build-tests --sanitize=thread --scratch-path .build-tsan \
      >"$bg_logs/tsan-build.log" 2>&1
    echo $? >"$bg_logs/tsan-build.rc"
    nice -n 19 scripts/package-deb.sh --build-only >"$bg_logs/release-build.log" 2>&1
    echo $? >"$bg_logs/release-build.rc" ) &
  ( nice -n 10 scripts/systemd-test/rootfs.sh >"$bg_logs/rootfs.log" 2>&1 ) &
}
# wait_for NAME: waits for the background step NAME, prints its log, returns its exit code.
wait_for() {
  local t0=$SECONDS
  while [ ! -f "$bg_logs/$1.rc" ]; do sleep 2; done
  echo "(waited $((SECONDS - t0)) s for the background $1)"
  tail -n 40 "$bg_logs/$1.log"
  return "$(cat "$bg_logs/$1.rc")"
}

stage "swift build (debug) and swift test"
if swift build --build-tests; then
  start_background_builds
  swift test --skip-build 2>&1 | grep --line-buffered -vE "^Test Case '.*' started"
  [ "${PIPESTATUS[0]}" = 0 ] || failed+=("swift test")
  echo "== docs check: every subcommand, flag and config key in the docs exists, and vice versa"
  python3 scripts/check-docs.py .build/debug/spotifyd-etl || failed+=("check-docs")
else
  failed+=("swift build")
  echo 1 >"$bg_logs/tsan-build.rc"; echo 1 >"$bg_logs/release-build.rc"
  echo "not started: the debug build failed" | tee "$bg_logs/tsan-build.log" >"$bg_logs/release-build.log"
fi

stage "swift test under ThreadSanitizer: daemon (incl. scheduler), health and state tests"
# Own scratch path (.build-tsan/, git-ignored): instrumented objects never mix with the normal
# build. The tests launch the instrumented spotifyd-etl binary too (Harness.binary is the
# sibling of the test bundle), and the daemon's stderr goes to per-test temp files, so reports
# are collected with log_path from every process (tsan.<pid> files), not only from our output.
# halt_on_error=0: every report prints and the run goes on; the step fails on any report.
# Skipped here (they run in the plain suite above): the throttled 40-second upload, the kill -9
# loops, the 100,000-row load and the hostile-answers table mostly wait on peers and processes;
# under TSan they only take 3-5x as long. The daemon's concurrency is exercised here by the
# lifecycle, reload-storm, status, scheduler and S3 tests, with the instrumented daemon binary.
tsan_logs="$(mktemp -d /tmp/spotifyd-tsan.XXXXXX)"
tsan_t0=$SECONDS
if wait_for tsan-build; then
  TSAN_OPTIONS="halt_on_error=0 second_deadlock_stack=1 log_path=$tsan_logs/tsan" \
    swift test --skip-build --sanitize=thread --scratch-path .build-tsan \
      --filter 'ETLDaemonTests|ETLHealthTests|ETLStateTests' \
      --skip 'WatchdogUploadTests|testKill9|CrashSafetyTests|testGeneratedScenarioLandsExactlyOnce|HostileAnswersTests' 2>&1 \
    | tee "$tsan_logs/output.log" | grep --line-buffered -vE "^Test Case '.*' started"
  tsan_rc="${PIPESTATUS[0]}"
  echo "== ThreadSanitizer: the run took $((SECONDS - tsan_t0)) s"
  [ "$tsan_rc" = 0 ] || failed+=("swift test (tsan)")
  if grep -qs "WARNING: ThreadSanitizer" "$tsan_logs"/*; then
    python3 scripts/testsupport/tsan_summary.py "$tsan_logs"/*
    failed+=("ThreadSanitizer reports (kept in $tsan_logs)")
  else
    echo "no ThreadSanitizer reports"
    rm -rf "$tsan_logs"
  fi
else
  failed+=("swift build (tsan)")
fi

# The package, the unit checks, the real-systemd test and the apt install test need the release
# build and nothing from the chaos suite, and mostly wait on a booting container; so they run in
# the background while the chaos suite runs (each has its own peers on ephemeral ports, and the
# containers their own rootfs), and their output is printed whole after it.
package_and_systemd() {
  local out="$bg_logs/late-failed" deb="" release_bin=".build-deb/release/spotifyd-etl"
  : >"$out"
  echo "== Debian package: release build (.build-deb/, in the background), lintian (fails on errors)"
  # One release build serves both the package and the real-systemd test: it built
  # .build-deb/release/spotifyd-etl (Swift runtime static); the package holds a stripped copy.
  if wait_for release-build; then
    deb="$(scripts/package-deb.sh --skip-build)" || { echo "package-deb (lintian)" >>"$out"; deb=""; }
  else
    echo "package-deb (release build)" >>"$out"
  fi
  echo "== systemd: unit checks and the daemon under a real systemd"
  scripts/systemd-test/check-unit.sh || echo "check-unit" >>"$out"
  if [ -x "$release_bin" ]; then
    scripts/systemd-test/run.sh --binary "$release_bin" || echo "systemd-test" >>"$out"
  else
    scripts/systemd-test/run.sh || echo "systemd-test" >>"$out"
  fi
  echo "== Debian package: apt install into a bookworm without Swift, run, group access, purge"
  if [ -n "$deb" ]; then
    scripts/systemd-test/deb-install.sh --deb "$deb" || echo "deb-install" >>"$out"
  else
    echo "deb-install (no package)" >>"$out"
  fi
}

stage "chaos suite (ci profile), with the package and systemd tests in the background"
package_and_systemd >"$bg_logs/late.log" 2>&1 &
late_pid=$!
scripts/chaos --profile ci || failed+=("scripts/chaos")

stage "Debian package, unit checks, real systemd, apt install (ran alongside the chaos suite)"
wait "$late_pid"
cat "$bg_logs/late.log"
while IFS= read -r f; do [ -n "$f" ] && failed+=("$f"); done <"$bg_logs/late-failed"

stage "done"
rm -rf "$bg_logs"
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all test suites passed"
