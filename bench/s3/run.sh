#!/bin/sh
# S3 loader benchmark (not a test). Release build; moto on loopback with signature checks on.
# Usage: bench/s3/run.sh     (from anywhere; needs python3 with moto[server], boto3, openssl)
set -eu
cd "$(dirname "$0")/../.."
swift build -c release --product s3-bench
BIN=.build/release/s3-bench
$BIN throughput
$BIN cpu

# Peak RSS of a 64 MiB multipart upload (8 MiB parts). moto and the 64 MiB file are made
# outside the measured process, so the figure is the uploader's own, as in the daemon.
TMP=$(mktemp -d)
python3 scripts/testsupport/moto_server.py --port-file "$TMP/port" --bucket bench-bucket > "$TMP/moto.log" 2>&1 &
MOTO=$!
trap 'kill $MOTO 2>/dev/null; rm -rf "$TMP"' EXIT
i=0; while [ ! -s "$TMP/port" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
PORT=$(cat "$TMP/port")
STATE=$(curl -s "http://127.0.0.1:$PORT/_ts/state")
export S3_BENCH_ENDPOINT="http://127.0.0.1:$PORT"
export S3_BENCH_ACCESS_KEY=$(printf '%s' "$STATE" | python3 -c 'import json,sys;print(json.load(sys.stdin)["access_key"])')
export S3_BENCH_SECRET_KEY=$(printf '%s' "$STATE" | python3 -c 'import json,sys;print(json.load(sys.stdin)["secret_key"])')
$BIN mkfile "$TMP/64mib.ndjson"
/usr/bin/time -v $BIN rss "$TMP/64mib.ndjson" 2> "$TMP/time.txt"
grep -E "Maximum resident set size" "$TMP/time.txt"
echo "(idle baseline of the same binary:)"
/usr/bin/time -v $BIN none 2>&1 | grep -E "Maximum resident set size"
