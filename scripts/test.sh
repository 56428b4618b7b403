#!/usr/bin/env bash
# Runs every test of spotifyd-etl. Installs what it needs first (apt and pip), then:
#   1. the Spotify emulator's and test peers' own self-tests (Python unittest),
#   2. the Snowflake DDL tests (pytest: sqlglot, DuckDB, fakesnow),
#   3. the Swift suite, which starts the Spotify emulator, moto and the other real peers
#      itself on loopback,
#   4. the chaos suite's ci profile (kill -9, S3 outage, 429 storms, 5xx, token expiry,
#      slow API, full disk, read-only state, garbage config; see docs/chaos.md),
#   5. the unit file checks (systemd-analyze security <= 1.5, verify) and the real-systemd
#      test: the daemon as a service in a booted bookworm container (systemd-nspawn).
# Exits non-zero if any part fails; every part runs regardless.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test || exit 1
failed=()

echo "== python: emulator and test-peer self-tests"
for t in scripts/emulator/test_*.py scripts/testsupport/test_*.py; do
  [ -e "$t" ] || continue
  python3 -m unittest "$t" || failed+=("$t")
done

echo "== pytest: Snowflake DDL"
python3 -m pytest Tests/snowflake -q -p no:cacheprovider || failed+=("Tests/snowflake")

echo "== swift test"
if swift build --build-tests; then
  swift test --skip-build 2>&1 | grep --line-buffered -vE "^Test Case '.*' started"
  [ "${PIPESTATUS[0]}" = 0 ] || failed+=("swift test")
else
  failed+=("swift build")
fi

echo "== chaos suite (ci profile): the real daemon under injected faults"
scripts/chaos --profile ci || failed+=("scripts/chaos")

echo "== systemd: unit checks and the daemon under a real systemd"
scripts/systemd-test/check-unit.sh || failed+=("check-unit")
scripts/systemd-test/run.sh || failed+=("systemd-test")

if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all test suites passed"
