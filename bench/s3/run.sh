#!/bin/sh
# S3 loader benchmark (not a test). Release build; moto on loopback with auth on.
# Usage: bench/s3/run.sh     (from the package root)
set -eu
cd "$(dirname "$0")/../.."
swift build -c release --product s3-bench
BIN=.build/release/s3-bench
$BIN throughput
$BIN cpu
# Peak RSS of a 64 MiB multipart upload, by the kernel's accounting of the whole process.
/usr/bin/time -v $BIN rss 2> /tmp/s3-bench-rss.txt
grep -E "Maximum resident set size" /tmp/s3-bench-rss.txt
