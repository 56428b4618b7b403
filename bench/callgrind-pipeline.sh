#!/usr/bin/env bash
# Instruction count of the pipeline benchmark: a figure that does not move with the machine's
# load, unlike items/s. Counts only the pipeline (PlaylistPoller.poll and Flusher.flush, with
# the bench's page generation toggled off inside them).
#
#   bench/callgrind-pipeline.sh [BINARY] [spotifyd-etl-bench options]
#     BINARY defaults to .build-release/release/spotifyd-etl-bench (built as
#     bench/run-pipeline-bench.sh builds it); options default to
#     --playlists 20 --items 500 --seen 100000.
#
# Needs valgrind (apt install valgrind). valgrind 3.19 cannot read DWARF 5, so the binary is
# copied without its debug info first (symbols stay).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-.build-release/release/spotifyd-etl-bench}"
shift || true
[ $# -gt 0 ] || set -- --playlists 20 --items 500 --seen 100000
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
strip -g -o "$work/bench" "$bin"
valgrind --tool=callgrind --callgrind-out-file="$work/out" \
  '--toggle-collect=$s9ETLDaemon14PlaylistPollerC4pollyAA11PollOutcomeOSSF' \
  '--toggle-collect=$s9ETLDaemon7FlusherC5flush5forceAC6ResultVSb_tF' \
  '--toggle-collect=$s18spotifyd_etl_bench12ReplaySourceC5timed33_91D13B8B554DA9C1CBB67027272637B2LLy20FoundationEssentials4DataVAhC6ServedVzKXEKFAhJzYuKYTXEfU_' \
  "$work/bench" "$@" 2>&1 | grep -E 'Collected' | sed 's/^==[0-9]*== //'
