#!/usr/bin/env bash
# Pipeline benchmark: builds the release benchmark and runs it with the standard parameters
# (200 playlists x 500 items, 1,000,000 already-seen track ids, 10% new ids per pass).
#
#   bench/run-pipeline-bench.sh [extra spotifyd-etl-bench options, e.g. --playlists 50 --smaps]
#
# Builds into .build-release (kept apart from the debug .build) with the Swift runtime and
# FoundationEssentials linked statically, as the daemon is: dynamically linked, the Swift
# shared libraries alone are several MiB of resident pages before the pipeline does anything.
# Everything else (SQLite, zlib, libcurl) stays dynamic.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "swift:   $(swift --version 2>&1 | head -1)"
swift build -c release --scratch-path .build-release --static-swift-stdlib --product spotifyd-etl-bench >&2
exec .build-release/release/spotifyd-etl-bench --playlists 200 --items 500 --seen 1000000 --new-percent 10 "$@"
