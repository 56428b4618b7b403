#!/usr/bin/env python3
"""Derives a runnable config from the documented sample (etc/spotifyd-etl.toml).

The sample is the source of truth for every key and default; this only rewrites the handful
of values a foreground run needs: where state, output and the control socket live, which
API to poll, and which playlists.
"""
import argparse
import re
import sys


def set_key(text: str, section: str, key: str, value: str) -> str:
    """Replaces `key = ...` inside `[section]` (the first occurrence), or appends it."""
    pattern = re.compile(r"(^\[%s\]\s*$)(.*?)(?=^\[|\Z)" % re.escape(section), re.M | re.S)
    m = pattern.search(text)
    if not m:
        return text + "\n[%s]\n%s = %s\n" % (section, key, value)
    body = m.group(2)
    line = re.compile(r"^%s\s*=.*$" % re.escape(key), re.M)
    if line.search(body):
        body = line.sub(lambda _: "%s = %s" % (key, value), body, count=1)
    else:
        body = "%s = %s\n" % (key, value) + body
    return text[: m.start(2)] + body + text[m.end(2):]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sample", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--var", required=True, help="directory for state, output and the socket")
    ap.add_argument("--api-url")
    ap.add_argument("--accounts-url")
    ap.add_argument("--playlists", default="", help="comma-separated ids; empty keeps the sample's")
    ap.add_argument("--interval", help="schedule interval, e.g. 30s")
    a = ap.parse_args()

    text = open(a.sample, encoding="utf-8").read()
    q = lambda s: '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"')
    if a.api_url:
        text = set_key(text, "spotify", "api_url", q(a.api_url))
    if a.accounts_url:
        text = set_key(text, "spotify", "accounts_url", q(a.accounts_url))
    text = set_key(text, "state", "path", q(a.var + "/state.db"))
    text = set_key(text, "sink", "path", q(a.var + "/out"))
    text = set_key(text, "control", "socket", q(a.var + "/control.sock"))
    if a.interval:
        text = set_key(text, "schedule", "interval", q(a.interval))
    ids = [p for p in a.playlists.split(",") if p.strip()]
    if ids:
        # Drop the sample's [[playlists]] blocks (each runs to the next header) and add ours.
        text = re.sub(r"^\[\[playlists\]\]\s*$.*?(?=^\[)", "", text, flags=re.M | re.S)
        text += "".join('\n[[playlists]]\nid = %s\n' % q(p.strip()) for p in ids)
    with open(a.out, "w", encoding="utf-8") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
