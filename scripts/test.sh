#!/usr/bin/env bash
# Runs every test of spotifyd-etl. Installs what it needs first (apt and pip), then:
# the emulator's own self-tests, then the Swift suite (which starts the Spotify emulator,
# moto and the other real peers itself on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test

echo "== python: emulator and test-support self-tests"
python3 -m unittest discover -s scripts -p 'test_*.py' -t . 2>&1 | tail -5

echo "== swift test"
swift build --build-tests
swift test --skip-build 2>&1 | tee .build/swift-test.log | grep -vE "^Test Case .* (started|passed)" || true
status=${PIPESTATUS[0]}
exit "$status"
