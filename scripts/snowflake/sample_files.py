#!/usr/bin/env python3
"""Writes daemon-format objects (NDJSON and CSV, gzip) for a small known scenario.

Why this exists: the Snowflake DDL and views are tested by loading real objects in exactly the
bytes the daemon writes, without needing a Swift build in the Python tests. The encoders here
are line-for-line ports of Sources/ETLSink/Encoding/{NDJSONEncoder,CSVEncoder}.swift and
Sources/ETLCore/JSONText.swift; Tests/snowflake/golden/ pins their output so the Swift side can
assert the same bytes.

Object keys follow ObjectNaming: <table>/dt=<YYYY-MM-DD>/<table>-[<instance id>-]<batch_id %012d>.<ext>.
Gzip matches GzipWriter: level 6, windowBits 31, memLevel 8, header mtime 0, no name, OS 255.

Usage: scripts/snowflake/sample_files.py OUTDIR [--format ndjson|csv|both] [--no-gzip]
Python standard library only.
"""
from __future__ import annotations

import argparse
import os
import sys
import zlib
from dataclasses import dataclass

# Table.outputColumns, in order (contract columns, then batch_id).
COLUMNS: dict[str, list[str]] = {
    "playlists": ["playlist_id", "snapshot_id", "name", "description", "owner_id", "owner_name", "public",
                  "collaborative", "followers", "item_count", "observed_at"],
    "playlist_items": ["playlist_id", "snapshot_id", "event", "item_key", "item_type", "track_id", "episode_id",
                       "position", "added_at", "added_by", "observed_at"],
    "tracks": ["track_id", "name", "duration_ms", "explicit", "disc_number", "track_number", "isrc",
               "popularity", "album_id", "artist_ids", "uri", "observed_at"],
    "albums": ["album_id", "name", "album_type", "release_date", "release_date_precision", "release_year",
               "total_tracks", "artist_ids", "observed_at"],
    "artists": ["artist_id", "name", "genres", "followers", "popularity", "observed_at"],
    "episodes": ["episode_id", "name", "duration_ms", "explicit", "show_id", "show_name", "release_date",
                 "observed_at"],
    "rejects": ["source_table", "reason", "playlist_id", "position", "raw", "observed_at"],
    "polls": ["playlist_id", "polled_at", "snapshot_id", "outcome", "items", "requests", "duration_ms"],
}
TABLES = list(COLUMNS)


def output_columns(table: str) -> list[str]:
    return COLUMNS[table] + ["batch_id"]


# --- JSONText port ---------------------------------------------------------------------------

_HEX = "0123456789abcdef"


def json_string(s: str) -> bytes:
    """JSONText.appendString: escapes ", \\, \\n, \\r, \\t, other C0 as \\u00xx; rest raw UTF-8."""
    out = bytearray(b'"')
    for b in s.encode("utf-8"):
        if b == 0x22:
            out += b'\\"'
        elif b == 0x5C:
            out += b"\\\\"
        elif b == 0x0A:
            out += b"\\n"
        elif b == 0x0D:
            out += b"\\r"
        elif b == 0x09:
            out += b"\\t"
        elif b < 0x20:
            out += b"\\u00" + _HEX[b >> 4].encode() + _HEX[b & 0xF].encode()
        else:
            out.append(b)
    out += b'"'
    return bytes(out)


def json_value(v) -> bytes:
    """JSONText.appendValue for the Value cases: None, str, bool, int, list[str]."""
    if v is None:
        return b"null"
    if isinstance(v, bool):
        return b"true" if v else b"false"
    if isinstance(v, int):
        return str(v).encode()
    if isinstance(v, str):
        return json_string(v)
    if isinstance(v, list):
        return b"[" + b",".join(json_string(s) for s in v) + b"]"
    raise TypeError(f"not a contract value: {v!r}")


# --- encoders ---------------------------------------------------------------------------------

def ndjson_record(table: str, values: list, batch_id: int) -> bytes:
    cols = COLUMNS[table]
    if len(values) != len(cols):
        raise ValueError(f"{table} row has {len(values)} values, contract has {len(cols)}")
    parts = [json_string(c) + b":" + json_value(v) for c, v in zip(cols, values)]
    parts.append(json_string("batch_id") + b":" + str(batch_id).encode())
    return b"{" + b",".join(parts) + b"}\n"


def _csv_needs_quoting(b: bytes) -> bool:
    if not b:
        return True
    if b[0] in (0x20, 0x09) or b[-1] in (0x20, 0x09):
        return True
    return any(c in (0x2C, 0x22, 0x0D, 0x0A) for c in b)


def _csv_field(b: bytes) -> bytes:
    if not _csv_needs_quoting(b):
        return b
    return b'"' + b.replace(b'"', b'""') + b'"'


def csv_header(table: str) -> bytes:
    return b",".join(_csv_field(c.encode()) for c in output_columns(table)) + b"\r\n"


def csv_record(table: str, values: list, batch_id: int) -> bytes:
    cols = COLUMNS[table]
    if len(values) != len(cols):
        raise ValueError(f"{table} row has {len(values)} values, contract has {len(cols)}")
    cells = []
    for v in values:
        if v is None:
            cells.append(b"")
        elif isinstance(v, bool):
            cells.append(b"true" if v else b"false")
        elif isinstance(v, int):
            cells.append(str(v).encode())
        elif isinstance(v, str):
            cells.append(b'""' if v == "" else _csv_field(v.encode("utf-8")))
        elif isinstance(v, list):
            cells.append(_csv_field(json_value(v)))
        else:
            raise TypeError(f"not a contract value: {v!r}")
    cells.append(str(batch_id).encode())
    return b",".join(cells) + b"\r\n"


def encode(fmt: str, table: str, rows: list[list], batch_id: int) -> bytes:
    if fmt == "ndjson":
        return b"".join(ndjson_record(table, r, batch_id) for r in rows)
    if fmt == "csv":
        return csv_header(table) + b"".join(csv_record(table, r, batch_id) for r in rows)
    raise ValueError(fmt)


def gzip_bytes(data: bytes) -> bytes:
    """GzipWriter's output: zlib gzip wrapper, level 6, header mtime 0, xfl 0, OS 255."""
    c = zlib.compressobj(6, zlib.DEFLATED, 31, 8, zlib.Z_DEFAULT_STRATEGY)
    out = bytearray(c.compress(data) + c.flush(zlib.Z_FINISH))
    # zlib's default header is 1f 8b 08 00 00000000 <xfl> <OS_CODE>; the daemon pins OS = 255.
    out[9] = 255
    return bytes(out)


def object_key(table: str, batch_id: int, day: str, fmt: str, gzip: bool, instance: str | None = None) -> str:
    """ObjectNaming.key: `instance` is the daemon's [instance] id (None: names without one)."""
    middle = f"{instance}-" if instance else ""
    return f"{table}/dt={day}/{table}-{middle}{batch_id:012d}.{fmt}{'.gz' if gzip else ''}"


# --- the scenario -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Batch:
    batch_id: int
    table: str
    day: str  # sealing day, the dt= partition
    rows: list


D1, D2, D3 = "2026-11-23", "2026-11-24", "2026-11-25"
T1_OBS, T2_OBS, T3_OBS = "2026-11-23T10:00:00Z", "2026-11-24T10:00:00Z", "2026-11-25T09:49:24Z"
LOCAL_KEY = "local:spotify:local:Unknown+Artist:Demos:Caf%C3%A9+Demo:183#0"
# An editorial playlist the API answers 404 for: it only ever appears in `polls`.
PL404 = "37i9dQZF1DXcBWIGoYBM5M"

SCENARIO: list[Batch] = [
    Batch(1, "playlists", D1, [
        ["pl1", "snap-p1-1", "Morning ☕ Mix", "Wake up, \"slowly\"\nthen fast", "u1", "Zoë", True, False, 12, 3, T1_OBS],
        ["pl2", "snap-p2-1", "Road Trip", "", "u2", "Ana María", None, True, None, 3, T1_OBS],
        ["pl3", "snap-p3-1", "Podcasts & Locals", "AC\\DC fans only, ok?", "u1", "Zoë", False, False, 0, 2, T1_OBS],
    ]),
    Batch(2, "playlist_items", D1, [
        ["pl1", "snap-p1-1", "added", "track:t1#0", "track", "t1", None, 0, "2026-11-20T08:00:00Z", "u1", T1_OBS],
        ["pl1", "snap-p1-1", "added", "track:t2#0", "track", "t2", None, 1, "2026-11-20T09:00:00Z", "u1", T1_OBS],
        # the same track twice in one playlist: distinct item keys
        ["pl1", "snap-p1-1", "added", "track:t1#1", "track", "t1", None, 2, "2026-11-21T23:59:59Z", None, T1_OBS],
        ["pl2", "snap-p2-1", "added", "track:t2#0", "track", "t2", None, 0, "2026-11-21T12:00:00Z", "u2", T1_OBS],
        ["pl2", "snap-p2-1", "added", "track:t3#0", "track", "t3", None, 1, "2026-11-21T12:05:00Z", "u2", T1_OBS],
        ["pl2", "snap-p2-1", "added", LOCAL_KEY, "local", None, None, 2, "2026-11-22T07:30:00Z", "u2", T1_OBS],
        ["pl3", "snap-p3-1", "added", "episode:e1#0", "episode", None, "e1", 0, "2026-11-22T06:00:00Z", "u1", T1_OBS],
        ["pl3", "snap-p3-1", "added", "track:t4#0", "track", "t4", None, 1, "2026-11-22T01:00:00Z", "u1", T1_OBS],
    ]),
    Batch(3, "tracks", D1, [
        ["t1", "Jóga", 305000, False, 1, 3, "GBAAA9700001", 61, "a1", ["ar1"], "spotify:track:t1", T1_OBS],
        ["t2", "Hoppípolla, \"live\"", 268000, False, 1, 1, "GBAAA9700002", 55, "a1", ["ar1", "ar2"],
         "spotify:track:t2", T1_OBS],
        ["t3", "Svefn-g-englar", 600000, True, 2, 4, "GBAAA2400003", 47, "a2", ["ar2"], "spotify:track:t3", T1_OBS],
        ["t4", "", 201000, False, 1, 1, None, None, "a3", ["ar3", "ar2"], "spotify:track:t4", T1_OBS],
    ]),
    Batch(4, "albums", D1, [
        ["a1", "Homogenic", "album", "1999-01-01", "year", 1999, 10, ["ar1"], T1_OBS],
        ["a2", "Ágætis byrjun (Reissue)", "album", "2024-03-15", "day", 2024, 10, ["ar2"], T1_OBS],
        ["a3", "大橋トリオ Live", "single", "2024-06-01", "month", 2024, 1, ["ar3", "ar2"], T1_OBS],
    ]),
    Batch(5, "artists", D1, [
        ["ar1", "Björk", None, None, None, T1_OBS],
        ["ar2", "Sigur Rós", [], 2000, 70, T1_OBS],
        ["ar3", "大橋トリオ", ["j-pop"], 5000, None, T1_OBS],
    ]),
    Batch(6, "episodes", D1, [
        ["e1", "Ep. 1 — \"Hello\" 🎙", 3600000, True, "s1", "The Show, Live", None, T1_OBS],
    ]),
    Batch(7, "rejects", D1, [
        ["playlist_items", "item is null", "pl2", 5, "{\"item\":null,\"added_at\":\"2026-11-22T00:00:00Z\"}", T1_OBS],
        ["playlist_items", "unparseable added_at", "pl3", None, "{\"added_at\":\"yesterday\",\"x\":\"a,b\"}", T1_OBS],
    ]),
    # day 2: a removal, an add with unknown added_at, and the enriched artist row
    Batch(8, "playlist_items", D2, [
        ["pl1", "snap-p1-2", "removed", "track:t2#0", "track", "t2", None, 1, "2026-11-20T09:00:00Z", "u1", T2_OBS],
        ["pl2", "snap-p2-2", "added", "track:t4#0", "track", "t4", None, 3, None, None, T2_OBS],
    ]),
    Batch(9, "artists", D2, [
        ["ar1", "Björk", ["icelandic pop", "art pop"], 100, 80, T2_OBS],
    ]),
    # day 3: a new playlist snapshot and one more add
    Batch(10, "playlists", D3, [
        ["pl1", "snap-p1-3", "Morning ☕ Mix", "Wake up, \"slowly\"\nthen fast", "u1", "Zoë", True, False, 13, 3, T3_OBS],
    ]),
    Batch(11, "playlist_items", D3, [
        ["pl1", "snap-p1-3", "added", "track:t3#0", "track", "t3", None, 2, "2026-11-25T09:49:24Z", "u1", T3_OBS],
    ]),
    # poll heartbeats, one batch per day: every poll of every playlist, whatever it found
    Batch(12, "polls", D1, [
        ["pl1", T1_OBS, "snap-p1-1", "changed", 3, 4, 812],
        ["pl2", T1_OBS, "snap-p2-1", "changed", 3, 4, 640],
        ["pl3", T1_OBS, "snap-p3-1", "changed", 2, 3, 505],
        [PL404, T1_OBS, None, "not_found", None, 1, 98],
        ["pl1", "2026-11-23T10:15:00Z", "snap-p1-1", "unchanged", 3, 1, 61],
        ["pl2", "2026-11-23T10:15:00Z", "snap-p2-1", "unchanged", 3, 1, 58],
        ["pl3", "2026-11-23T10:15:00Z", "snap-p3-1", "failed", 2, 2, 10031],
    ]),
    Batch(13, "polls", D2, [
        ["pl1", T2_OBS, "snap-p1-2", "changed", 2, 3, 390],
        ["pl2", T2_OBS, "snap-p2-2", "changed", 4, 3, 402],
        ["pl3", T2_OBS, "snap-p3-1", "unchanged", 2, 1, 57],
        [PL404, T2_OBS, None, "not_found", None, 1, 101],
    ]),
    Batch(14, "polls", D3, [
        ["pl1", T3_OBS, "snap-p1-3", "changed", 3, 3, 377],
        ["pl2", T3_OBS, "snap-p2-3", "renamed", 4, 3, 350],
        ["pl3", T3_OBS, None, "deferred", None, 1, 44],
        [PL404, T3_OBS, None, "not_found", None, 1, 97],
        ["pl1", "2026-11-25T10:04:24Z", "snap-p1-3", "unchanged", 3, 1, 66],
    ]),
]


def write_scenario(outdir: str, fmt: str = "ndjson", gzip: bool = True) -> list[str]:
    """Writes every batch of SCENARIO as one object under outdir; returns the keys written."""
    keys = []
    for b in SCENARIO:
        key = object_key(b.table, b.batch_id, b.day, fmt, gzip)
        data = encode(fmt, b.table, b.rows, b.batch_id)
        if gzip:
            data = gzip_bytes(data)
        path = os.path.join(outdir, key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        keys.append(key)
    return keys


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write daemon-format sample objects for the Snowflake tests.")
    ap.add_argument("outdir")
    ap.add_argument("--format", choices=["ndjson", "csv", "both"], default="both")
    ap.add_argument("--no-gzip", action="store_true")
    args = ap.parse_args(argv)
    fmts = ["ndjson", "csv"] if args.format == "both" else [args.format]
    for fmt in fmts:
        for key in write_scenario(args.outdir, fmt, not args.no_gzip):
            print(key)
    return 0


if __name__ == "__main__":
    sys.exit(main())
