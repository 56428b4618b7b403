#!/usr/bin/env python3
"""Summarises ThreadSanitizer reports: one line per distinct race, by our code's file:line.

Usage: tsan_summary.py FILE... (test output and TSAN_OPTIONS=log_path=... files; '-' = stdin)

A report is keyed by its kind ("data race", "race on a mutex", ...) and, for each access it
describes (the current one and the "Previous ..." one), the first stack frame in this
repository's Sources/ or Tests/ (else the first frame). The same race hit by many tests or
processes is printed once, with a count. Exit status 1 when any report was found, 0 otherwise.
"""
import collections
import re
import sys

HEADER = re.compile(r"WARNING: ThreadSanitizer: (.+?) \(pid=(\d+)\)")
ACCESS = re.compile(r"^\s*(Previous )?(atomic )?(read|write|Read|Write|Atomic read|Atomic write)\b.*|^\s*(Mutex|Thread) ")
FRAME = re.compile(r"^\s*#\d+ (\S+) (\S+?):(\d+)(?::\d+)? ")
OURS = re.compile(r"/(Sources|Tests)/[^ ]+$")


def reports(text):
    """Yields (kind, [block lines]) per report."""
    cur = None
    for line in text.splitlines():
        m = HEADER.search(line)
        if m:
            if cur:
                yield cur
            cur = (m.group(1), [])
        elif cur is not None:
            if line.startswith("SUMMARY: ThreadSanitizer"):
                yield cur
                cur = None
            else:
                cur[1].append(line)
    if cur:
        yield cur


def key(kind, lines):
    sites, frames, label = [], [], None

    def close():
        if label is not None:
            ours = [f for f in frames if OURS.search(f[1])]
            pick = (ours or frames or [("?", "?", "?")])[0]
            path = re.sub(r"^.*?/(?=(Sources|Tests)/)", "", pick[1])
            sites.append(f"{label}: {path}:{pick[2]} ({pick[0][:60]})")

    for line in lines:
        if ACCESS.match(line) and not line.strip().startswith("#"):
            close()
            label = line.strip().split(" at ")[0].split(" by ")[0]
            frames = []
        else:
            m = FRAME.match(line)
            if m and label is not None:
                frames.append((m.group(1), m.group(2), m.group(3)))
            elif line.strip().startswith(("Location is", "Mutex M", "Thread T")) and label is not None:
                close()
                label = None
                frames = []
    close()
    return kind, tuple(sites[:2])


def main():
    counts = collections.Counter()
    for path in sys.argv[1:] or ["-"]:
        text = sys.stdin.read() if path == "-" else open(path, errors="replace").read()
        for kind, lines in reports(text):
            counts[key(kind, lines)] += 1
    for (kind, sites), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"{n:4d} x {kind}")
        for s in sites:
            print(f"         {s}")
    total = sum(counts.values())
    print(f"{total} ThreadSanitizer report(s), {len(counts)} distinct")
    sys.exit(1 if total else 0)


if __name__ == "__main__":
    main()
